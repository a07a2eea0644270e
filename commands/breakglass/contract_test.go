package breakglass_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/etcdmedic/etcdmedic/commands"
	"github.com/etcdmedic/etcdmedic/commands/clitest"
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/step/steptest"
	"github.com/etcdmedic/etcdmedic/playground"
	"github.com/etcdmedic/etcdmedic/playground/playgroundtest"
)

// Every changing step, run by a script without --yes, stops with exit 4 and
// changes nothing (a runbook must not go on as if it had happened); with
// --dry-run it shows the plan and exits 0.
func TestUnconfirmedStepsAreRefused(t *testing.T) {
	root := fixtureRoot(t)
	bgManifest := filepath.Join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
	refused := func(args ...string) {
		t.Helper()
		before := snapshotFiles(t, root)
		r := clitest.Run(t, noEtcd, append([]string{"breakglass"}, append(args, "--root", root)...)...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "not confirmed") || !strings.Contains(r.Stderr, "re-run with --yes") {
			t.Fatalf("%v without --yes: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
		if r.Stdout == "" {
			t.Fatalf("%v: no plan shown", args)
		}
		if !same(before, snapshotFiles(t, root)) {
			t.Fatalf("%v without --yes changed files", args)
		}
		d := clitest.Run(t, noEtcd, append([]string{"breakglass"}, append(args, "--root", root, "--dry-run")...)...)
		if d.Code != 0 || d.Stdout == "" || !same(before, snapshotFiles(t, root)) {
			t.Fatalf("%v --dry-run: exit %d", args, d.Code)
		}
	}
	do := func(args ...string) clitest.Result {
		t.Helper()
		r := clitest.Run(t, noEtcd, append([]string{"breakglass"}, append(args, "--root", root, "--yes")...)...)
		if r.Code != 0 {
			t.Fatalf("%v --yes: exit %d", args, r.Code)
		}
		return r
	}
	refused("etcd-only")
	do("etcd-only")
	orig, _ := os.ReadFile(filepath.Join(root, "etc/kubernetes/etcdmedic-disabled/kube-apiserver.yaml"))
	refused("apiserver", "--localhost")
	if _, err := os.Stat(bgManifest); err == nil {
		t.Fatal("apiserver without --yes wrote the manifest")
	}
	do("apiserver", "--localhost")
	refused("ramp", "--to", "100", "--interval", "20s")
	refused("undo")
	do("undo")
	if back, _ := os.ReadFile(bgManifest); string(back) != string(orig) {
		t.Fatal("undo did not restore the original kube-apiserver.yaml")
	}
}

// On a terminal the step asks; anything but "y" aborts with exit 4 and
// changes nothing.
func TestAnsweringNoAtThePromptAborts(t *testing.T) {
	root := fixtureRoot(t)
	before := snapshotFiles(t, root)
	run := func(answer string) (int, string, string) {
		tty, keyboard := steptest.Terminal(t)
		ios, out, errOut := iostreams.Test()
		ios.In = tty
		ios.SetTTY(true)
		if _, err := keyboard.WriteString(answer); err != nil {
			t.Fatal(err)
		}
		code := commands.Execute(context.Background(), []string{"breakglass", "etcd-only", "--root", root}, ios, noEtcd)
		return code, out.String(), errOut.String()
	}
	code, stdout, stderr := run("n\n")
	if code != 4 || !strings.Contains(stderr, "Move these 3 manifests out? [y/N]") || !strings.Contains(stderr, "aborted") || !strings.Contains(stdout, "would move") {
		t.Fatalf("answer n: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if !same(before, snapshotFiles(t, root)) {
		t.Fatal("answer n changed files")
	}
	code, stdout, stderr = run("y\n")
	if code != 0 || !strings.Contains(stdout, "moved") {
		t.Fatalf("answer y: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/kubernetes/manifests/kube-scheduler.yaml")); err == nil {
		t.Fatal("answer y moved nothing")
	}
}

// printed finds the line "<label>: etcdmedic ..." in out and splits it as a
// shell would: the test runs exactly what a person would paste.
func printed(t *testing.T, out, label string) []string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, label+": "); ok && strings.HasPrefix(rest, "etcdmedic ") {
			cmd, _, _ := strings.Cut(rest, "   #")
			return clitest.ShellWords(t, cmd)
		}
	}
	t.Fatalf("no %q line in:\n%s", label, out)
	return nil
}

// The undo etcd-only prints, run as printed, finds the journal in the
// --state-dir it was given and reverts exactly those moves.
func TestPrintedUndoOfEtcdOnlyRunsAsPrinted(t *testing.T) {
	root := fixtureRoot(t)
	before := snapshotFiles(t, root)
	r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--state-dir", "/srv/bg-state", "--quarantine-dir", "/srv/disabled", "--yes")
	if r.Code != 0 {
		t.Fatalf("etcd-only: exit %d", r.Code)
	}
	undo := printed(t, r.Stdout, "Undo")
	if len(printed(t, r.Stdout, "Next")) == 0 {
		t.Fatal("no next step")
	}
	shown := clitest.Run(t, noEtcd, append(undo, "-o", "json")...)
	var plan struct {
		DryRun bool `json:"dryRun"`
		Steps  []struct {
			Ref    int    `json:"ref"`
			Action string `json:"action"`
			Result string `json:"result"`
		} `json:"steps"`
	}
	if shown.Code != 4 || json.Unmarshal([]byte(shown.Stdout), &plan) != nil || len(plan.Steps) != 3 || !plan.DryRun {
		t.Fatalf("printed undo as printed: exit %d, %s", shown.Code, shown.Stdout)
	}
	for i, s := range plan.Steps {
		if s.Action != "quarantine" || s.Ref != 3-i || s.Result != "would-undo" {
			t.Fatalf("undo would revert %+v, want the three moves, newest first", plan.Steps)
		}
	}
	if r := clitest.Run(t, noEtcd, append(undo, "--yes")...); r.Code != 0 {
		t.Fatalf("printed undo --yes: exit %d", r.Code)
	}
	after := snapshotFiles(t, root)
	for p, v := range before {
		if after[p] != v {
			t.Errorf("%s not restored", p)
		}
	}
}

// The case: two purges journaled in two state directories on one
// root. The undo the second prints, run as printed, restores the second
// purge's pods, not the first's.
func TestPrintedUndoOfPurgeActsOnTheSameJournalEntry(t *testing.T) {
	c := playgroundtest.Start(t, playground.Options{Members: 1})
	cli := playgroundtest.Client(t, c)
	seed := playgroundtest.Seed(t, c, playground.SeedOptions{Pods: 1000, PodPadding: 16})
	root := t.TempDir()
	// Connection as flags, not environment: the printed line must carry them.
	conn := []string{"--endpoints", strings.Join(c.Endpoints(), ","), "--command-timeout", "20s"}
	pods := func() int64 { return podCount(t, cli) }
	succeeded, failed := seed.Phases[corev1.PodSucceeded], seed.Phases[corev1.PodFailed]
	first := clitest.Run(t, nil, append([]string{"breakglass", "purge-pods", "--root", root, "--phase", "Succeeded", "--rate", "0", "--yes"}, conn...)...)
	second := clitest.Run(t, nil, append([]string{"breakglass", "purge-pods", "--root", root, "--state-dir", "/srv/other", "--phase", "Failed", "--rate", "0", "--yes"}, conn...)...)
	if first.Code != 0 || second.Code != 0 || pods() != int64(1000-succeeded-failed) {
		t.Fatalf("purges: exit %d and %d, %d pods left", first.Code, second.Code, pods())
	}
	undo := printed(t, second.Stdout, "Undo")
	if next := printed(t, second.Stdout, "Next"); !strings.Contains(strings.Join(next, " "), "--endpoints") {
		t.Fatalf("next step %q lost the endpoints", next)
	}
	if strings.Contains(strings.Join(undo, " "), "--password") {
		t.Fatal("a password in the printed undo")
	}
	var archive string
	for _, line := range strings.Split(second.Stdout, "\n") {
		if _, a, ok := strings.Cut(line, "; archive "); ok {
			archive = strings.TrimSpace(a)
		}
	}
	// The journal names the archive as on the node, without the root.
	archive = "/srv/other/" + filepath.Base(archive)
	shown := clitest.Run(t, nil, undo...)
	if shown.Code != 4 || !strings.Contains(shown.Stdout, archive) || strings.Count(shown.Stdout, "purge-pods") != 1 {
		t.Fatalf("printed undo as printed: exit %d, does not name the second purge's archive %q:\n%s", shown.Code, archive, shown.Stdout)
	}
	if r := clitest.Run(t, nil, append(undo, "--yes")...); r.Code != 0 {
		t.Fatalf("printed undo --yes: exit %d", r.Code)
	}
	if got := pods(); got != int64(1000-succeeded) {
		t.Fatalf("%d pods after the undo, want %d: the Failed ones back, the Succeeded ones (the other journal's) still gone", got, 1000-succeeded)
	}
}

func TestRampIntervalBelowTheFloorIsRefused(t *testing.T) {
	for _, iv := range []string{"5s", "19s", "0s"} {
		r := clitest.Run(t, noEtcd, "breakglass", "ramp", "--to", "400", "--interval", iv, "--root", t.TempDir(), "--yes")
		if r.Code != 64 || !strings.Contains(r.Stderr, "20s") {
			t.Errorf("--interval %s: exit %d, %q", iv, r.Code, r.Stderr)
		}
	}
}

// -o yaml of the apiserver step is the Pod manifest itself, ready for a file;
// -o json keeps its fields.
func TestAPIServerDryRunYAMLIsThePodManifest(t *testing.T) {
	root := fixtureRoot(t)
	if r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--yes"); r.Code != 0 {
		t.Fatalf("etcd-only: exit %d", r.Code)
	}
	r := clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--root", root, "--dry-run", "-o", "yaml")
	var pod corev1.Pod
	if r.Code != 0 || yaml.UnmarshalStrict([]byte(r.Stdout), &pod) != nil || pod.Kind != "Pod" || len(pod.Spec.Containers) == 0 ||
		!strings.Contains(strings.Join(append(pod.Spec.Containers[0].Command, pod.Spec.Containers[0].Args...), " "), "--bind-address=127.0.0.1") {
		t.Fatalf("-o yaml: exit %d, not the Pod manifest:\n%s", r.Code, r.Stdout)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--root", root, "--dry-run", "-o", "json")
	var res map[string]any
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &res) != nil {
		t.Fatalf("-o json: exit %d", r.Code)
	}
	for _, k := range []string{"dryRun", "path", "source", "manifest", "port"} {
		if _, ok := res[k]; !ok {
			t.Errorf("-o json lacks %q", k)
		}
	}
}

// The plan's runbook lines carry the layout and connection flags in effect:
// its undo line, run as printed, finds the journal in the given --state-dir.
func TestPlanRunbookLinesCarryTheFlagsInEffect(t *testing.T) {
	root := fixtureRoot(t)
	layout := []string{"--root", root, "--state-dir", "/srv/bg-state"}
	if r := clitest.Run(t, noEtcd, append([]string{"breakglass", "etcd-only", "--yes"}, layout...)...); r.Code != 0 {
		t.Fatalf("etcd-only: exit %d", r.Code)
	}
	r := clitest.Run(t, noEtcd, append([]string{"breakglass", "plan", "--no-health", "--endpoints", "https://10.0.0.11:2379", "--user", "root:pw", "-o", "json"}, layout...)...)
	var plan struct {
		Steps []struct {
			Command string `json:"command"`
			State   string `json:"state"`
		} `json:"steps"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &plan) != nil || len(plan.Steps) != 6 {
		t.Fatalf("plan: exit %d, %s", r.Code, r.Stdout)
	}
	for i, s := range plan.Steps {
		etcd := i >= 2 // purge, defrag, ramp, undo reach etcd; etcd-only and apiserver do not
		if strings.Contains(s.Command, "pw") || strings.Contains(s.Command, "--password") {
			t.Errorf("step %d carries the password: %s", i+1, s.Command)
		}
		if etcd != strings.Contains(s.Command, "--endpoints https://10.0.0.11:2379 --user root") {
			t.Errorf("step %d: %s (connection flags expected: %v)", i+1, s.Command, etcd)
		}
		if strings.Contains(s.Command, "breakglass") != strings.Contains(s.Command, "--state-dir /srv/bg-state") {
			t.Errorf("step %d: %s", i+1, s.Command)
		}
	}
	undo := plan.Steps[5].Command
	argv := printed(t, "Undo: "+undo, "Undo")
	shown := clitest.Run(t, noEtcd, append(argv, "--dry-run", "-o", "json")...)
	if shown.Code != 0 || strings.Count(shown.Stdout, `"quarantine"`) != 3 {
		t.Fatalf("the plan's undo line as printed: exit %d, %s", shown.Code, shown.Stdout)
	}
}

// While the original kube-apiserver manifest is still in the directory the
// step is refused before anything is asked; a dry run shows the manifest and
// says so.
func TestAPIServerRefusedWhileTheOriginalRuns(t *testing.T) {
	root := fixtureRoot(t)
	orig := filepath.Join(root, "etc/kubernetes/manifests/kube-apiserver.yaml")
	before := snapshotFiles(t, root)
	r := clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--from", orig, "--root", root, "--yes")
	if r.Code != 4 || !strings.Contains(r.Stderr, "still runs the original kube-apiserver") || !same(before, snapshotFiles(t, root)) {
		t.Fatalf("exit %d: %s", r.Code, r.Stderr)
	}
	r = clitest.Run(t, noEtcd, "breakglass", "apiserver", "--localhost", "--from", orig, "--root", root, "--dry-run", "-o", "yaml")
	if r.Code != 0 || !strings.Contains(r.Stdout, "kind: Pod") || !strings.Contains(r.Stderr, "--yes would be refused") || !same(before, snapshotFiles(t, root)) {
		t.Fatalf("dry run: exit %d: %s", r.Code, r.Stderr)
	}
}

// The JSON field names of every breakglass command are a contract: scripts
// read them. Each is one typed document.
func TestJSONFieldNamesStay(t *testing.T) {
	root := fixtureRoot(t)
	keys := func(args ...string) map[string]any {
		t.Helper()
		r := clitest.Run(t, noEtcd, append(append([]string{"breakglass"}, args...), "--root", root, "-o", "json")...)
		var doc map[string]any
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("%v: exit %d, not one JSON document: %v", args, r.Code, err)
		}
		return doc
	}
	want := func(args []string, names ...string) {
		t.Helper()
		doc := keys(args...)
		for _, n := range names {
			if _, ok := doc[n]; !ok {
				t.Errorf("%v -o json lacks %q: %v", args, n, doc)
			}
		}
	}
	want([]string{"etcd-only", "--dry-run"}, "dryRun", "moves", "kept")
	want([]string{"etcd-only", "--yes"}, "dryRun", "moves", "kept", "undo", "next")
	want([]string{"apiserver", "--localhost", "--yes"}, "dryRun", "path", "source", "manifest", "port")
	want([]string{"ramp", "--to", "100", "--interval", "20s", "--dry-run"}, "dryRun", "steps")
	want([]string{"plan", "--no-health"}, "root", "manifestDir", "manifestDirSource", "quarantineDir", "journal", "manifests", "quarantined", "etcdDataDirBytes", "journalEntries", "steps")
	want([]string{"journal"}, "journal", "entries")
	want([]string{"undo", "--dry-run"}, "dryRun", "steps")
	steps := keys("ramp", "--to", "100", "--interval", "20s", "--dry-run")["steps"].([]any)
	for _, n := range []string{"maxRequestsInflight", "maxMutatingRequestsInflight", "result"} {
		if _, ok := steps[0].(map[string]any)[n]; !ok {
			t.Errorf("ramp step lacks %q", n)
		}
	}
}

// A step refused because an earlier one has not run names that step with
// the flags in effect: pasted, the printed line moves the manifests of the
// --root given, journals into its --state-dir, and the refused step then
// goes ahead. The bare 'etcdmedic breakglass etcd-only' it once printed
// would have edited this machine's own /etc/kubernetes.
func TestPriorStepRefusalsPrintTheStepWithTheFlagsInEffect(t *testing.T) {
	root := fixtureRoot(t)
	state := "/srv/break glass" // node-relative, as every layout path: under --root
	flags := []string{"--root", root, "--state-dir", state, "--yes"}
	priorStep := func(r clitest.Result) []string {
		t.Helper()
		for _, line := range strings.Split(r.Stderr, "\n") {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "→ "); ok {
				return clitest.ShellWords(t, rest)
			}
		}
		t.Fatalf("no step printed:\n%s", r.Stderr)
		return nil
	}
	for _, args := range [][]string{{"ramp", "--to", "400", "--steps", "4"}, {"apiserver", "--localhost"}} {
		before := snapshotFiles(t, root)
		r := clitest.Run(t, noEtcd, append(append([]string{"breakglass"}, args...), flags...)...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "run the 'breakglass etcd-only' step") {
			t.Fatalf("%v before etcd-only: exit %d, want 4 naming the step", args, r.Code)
		}
		if !same(before, snapshotFiles(t, root)) {
			t.Fatalf("%v refused, and changed files", args)
		}
		want := []string{"breakglass", "etcd-only", "--root", root, "--state-dir", state}
		if got := priorStep(r); strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("%v printed %q, want %q", args, got, want)
		}
	}
	// Run as printed (and confirmed), then the apiserver step goes ahead.
	if r := clitest.Run(t, noEtcd, "breakglass", "etcd-only", "--root", root, "--state-dir", state, "--yes"); r.Code != 0 {
		t.Fatalf("the printed etcd-only: exit %d", r.Code)
	}
	if _, err := os.Stat(filepath.Join(root, state, "journal.jsonl")); err != nil {
		t.Fatalf("the printed etcd-only journaled elsewhere: %v", err)
	}
	r := clitest.Run(t, noEtcd, append([]string{"breakglass", "ramp", "--to", "400", "--steps", "4"}, flags...)...)
	want := []string{"breakglass", "apiserver", "--localhost", "--root", root, "--state-dir", state}
	if got := priorStep(r); r.Code != 4 || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("ramp before the apiserver: exit %d, printed %q, want %q", r.Code, got, want)
	}
	if r := clitest.Run(t, noEtcd, append([]string{"breakglass", "apiserver", "--localhost"}, flags...)...); r.Code != 0 {
		t.Fatalf("apiserver after the printed etcd-only: exit %d", r.Code)
	}
}
