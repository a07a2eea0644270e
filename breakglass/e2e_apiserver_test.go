package breakglass

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// TestBreakGlassAPIServerRuns starts a real kube-apiserver from the generated
// manifest's command line against a playground etcd and shows that /readyz
// answers on 127.0.0.1 (reached with tls-server-name kubernetes, since the
// serving certificate has no 127.0.0.1) and that it listens nowhere else.
func TestBreakGlassAPIServerRuns(t *testing.T) {
	bin := playgroundtest.KubeAPIServer(t)
	c := playgroundtest.Start(t, playground.Options{Members: 1, TLS: true})
	etcdTLS := c.TLS()
	advertise := playgroundtest.HostIP()

	root, manifests := fixtureRoot(t)
	pki := newTestPKI(t, t.TempDir(), advertise)
	port := playgroundtest.FreePort(t)
	orig := kubeadmAPIServer(pki, etcdTLS, c.Endpoints()[0], advertise, port)
	if err := os.WriteFile(filepath.Join(manifests, "kube-apiserver.yaml"), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	l, j := mustLayout(t, root)
	src := quarantineAPIServer(t, l, j)
	pod := writeBreakGlassAPIServer(t, l, j, src, APIServerOptions{})
	argv := append(append([]string{}, pod.Spec.Containers[0].Command...), pod.Spec.Containers[0].Args...)
	if argv[0] != "kube-apiserver" {
		t.Fatalf("command %v", argv)
	}

	proc := playgroundtest.StartProcess(t, bin, append(argv[1:], "--v=1")...)
	cmd := proc.Cmd

	caPool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.CA)
	caPool.AppendCertsFromPEM(caPEM)
	admin, err := tls.LoadX509KeyPair(pki.AdminCert, pki.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: caPool, ServerName: "kubernetes", Certificates: []tls.Certificate{admin}}}}
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	readyz := ReadyzGate(hc, base+"/readyz", 5*time.Second)
	proc.PollUntil(t, 3*time.Minute, func() error { return readyz(context.Background()) })
	// Certificates kept: the admin client certificate works, through the
	// kept etcd client certificates, to the local etcd.
	resp, err := hc.Get(base + "/api/v1/namespaces/default")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"default"`) {
		t.Fatalf("GET namespace default: %s %s", resp.Status, body)
	}

	// Nothing listens anywhere but loopback.
	listeners := listeningAddrs(t, cmd.Process.Pid)
	if len(listeners) == 0 {
		t.Fatal("found no listening socket of the apiserver")
	}
	for _, a := range listeners {
		if !a.IP.IsLoopback() {
			t.Errorf("kube-apiserver listens on %s", a)
		}
	}
	if advertise != "10.0.0.11" {
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(advertise, strconv.Itoa(port)), 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("%s:%d accepts connections", advertise, port)
		}
	}
	t.Logf("kube-apiserver ready on 127.0.0.1:%d; listening sockets %v", port, listeners)
}

// kubeadmAPIServer is the manifest kubeadm would write for this PKI, with
// probes on the advertise address and etcd listed on three members.
func kubeadmAPIServer(p *testPKI, etcd *playground.TLSFiles, etcdURL, advertise string, port int) []byte {
	probe := func(path string) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: advertise, Path: path, Port: intstr.FromInt(port), Scheme: corev1.URISchemeHTTPS}},
			InitialDelaySeconds: 10, PeriodSeconds: 10, TimeoutSeconds: 15, FailureThreshold: 8}
	}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "kube-apiserver", Namespace: "kube-system", Labels: map[string]string{"component": "kube-apiserver", "tier": "control-plane"}},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
			Name:  "kube-apiserver",
			Image: "registry.k8s.io/kube-apiserver:" + playgroundtest.KubeAPIServerVersion,
			Command: []string{"kube-apiserver",
				"--advertise-address=" + advertise,
				"--allow-privileged=true",
				"--authorization-mode=Node,RBAC",
				"--client-ca-file=" + p.CA,
				"--enable-admission-plugins=NodeRestriction",
				"--encryption-provider-config=" + p.EncryptionConfig,
				"--etcd-cafile=" + etcd.CA,
				"--etcd-certfile=" + etcd.ClientCert,
				"--etcd-keyfile=" + etcd.ClientKey,
				"--etcd-prefix=/registry",
				"--etcd-servers=" + etcdURL + ",https://10.0.0.12:2379,https://10.0.0.13:2379",
				"--kubelet-client-certificate=" + p.AdminCert,
				"--kubelet-client-key=" + p.AdminKey,
				"--secure-port=" + strconv.Itoa(port),
				"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
				"--service-account-key-file=" + p.SAPub,
				"--service-account-signing-key-file=" + p.SAKey,
				"--service-cluster-ip-range=10.96.0.0/12",
				"--tls-cert-file=" + p.APIServerCert,
				"--tls-private-key-file=" + p.APIServerKey,
			},
			LivenessProbe: probe("/livez"), ReadinessProbe: probe("/readyz"), StartupProbe: probe("/livez"),
		}}},
	}
	out, _ := yaml.Marshal(pod)
	return out
}

// listeningAddrs lists the TCP sockets in LISTEN state that process pid
// holds, from /proc: its fds name socket inodes, /proc/net/tcp{,6} map
// inodes to local addresses.
func listeningAddrs(t *testing.T, pid int) []*net.TCPAddr {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []*net.TCPAddr
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			out = append(out, parseProcAddr(fields[1]))
		}
		f.Close()
	}
	return out
}

// parseProcAddr reads "0100007F:1F90": the IP in host byte order per 32-bit word.
func parseProcAddr(s string) *net.TCPAddr {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	b, _ := hex.DecodeString(hexIP)
	for i := 0; i+4 <= len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	return &net.TCPAddr{IP: net.IP(b), Port: int(port)}
}
