package inventory

import (
	"strings"
	"testing"

	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
	"github.com/etcdmedic/etcdmedic/inventory"
)

func TestRenderFits80Columns(t *testing.T) {
	r := &inventory.Report{Revision: 123456, Keys: 52000, Bytes: 900 << 20, Pages: 53, TookSeconds: 4.2,
		Resources: []inventory.ResourceUsage{{Resource: "pods", Keys: 40000, Bytes: 700 << 20, TopNamespaces: []inventory.NamespaceUsage{
			{Namespace: "gitlab-runner-autoscaled-jobs", Keys: 30000, Bytes: 600 << 20},
			{Namespace: "kube-system", Keys: 5000, Bytes: 50 << 20}, {Namespace: "monitoring", Keys: 2000, Bytes: 20 << 20}}}},
		Prefixes:    []inventory.PrefixUsage{{Prefix: "/calico/resources/v3/projectcalico.org/workloadendpoints/", Keys: 900, Bytes: 3 << 20}},
		LargestKeys: []inventory.KeySize{{Key: "/registry/configmaps/kube-system/a-very-long-configmap-name-that-keeps-going-and-going", Bytes: 1 << 20}},
	}
	ios, out, _ := iostreams.Test()
	ios.SetWidth(80)
	if err := render(ios, r); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	for _, l := range strings.Split(out.String(), "\n") {
		if output.Cells(l) > 80 {
			t.Fatalf("a line of %d cells at 80 columns: %q", output.Cells(l), l)
		}
	}
	for _, want := range []string{"RESOURCE", "KEYS", "BYTES", "TOP NAMESPACES", "gitlab-runner-autoscaled-jobs (30000", "LARGEST KEYS"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("lost %q at 80 columns", want)
		}
	}
}
