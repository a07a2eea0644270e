package breakglass

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary re-executed as a journal writer: it appends N entries, with
// its file size limited when asked, so the kernel cuts an append short
// (RLIMIT_FSIZE: the write stops at the limit, the next one fails with EFBIG)
// exactly as a full disk or a crash mid-write leaves it.
const (
	childJournal = "ETCDMEDIC_TEST_JOURNAL_APPEND"
	childCount   = "ETCDMEDIC_TEST_JOURNAL_COUNT"
	childFsize   = "ETCDMEDIC_TEST_JOURNAL_FSIZE"
)

func runJournalChildIfRequested() {
	path := os.Getenv(childJournal)
	if path == "" {
		return
	}
	if lim, _ := strconv.ParseUint(os.Getenv(childFsize), 10, 64); lim > 0 {
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: lim, Max: lim}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	n, _ := strconv.Atoi(os.Getenv(childCount))
	j := OpenJournal(path)
	for i := 0; i < n; i++ {
		if _, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: i + 1, Detail: "child " + strconv.Itoa(os.Getpid())}); err != nil {
			fmt.Fprintln(os.Stderr, "append:", err)
			os.Exit(3)
		}
	}
	os.Exit(0)
}

func journalChild(t *testing.T, path string, n int, fsize int64) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childJournal+"="+path, childCount+"="+strconv.Itoa(n), childFsize+"="+strconv.FormatInt(fsize, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t.Logf("child %d stderr: %s", cmd.Process.Pid, stderr.String()) })
	return cmd
}

// checkSeqs says the journal reads and its seqs run 1..n without a gap or a
// repeat.
func checkSeqs(t *testing.T, j *Journal) []Entry {
	t.Helper()
	entries, err := j.Read()
	if err != nil {
		t.Fatalf("journal unreadable: %v", err)
	}
	for i, e := range entries {
		if e.Seq != i+1 {
			t.Fatalf("entry %d has seq %d", i+1, e.Seq)
		}
	}
	return entries
}

func TestJournalAppendCutShortByTheKernelLeavesItUsable(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, manifests)
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	// Room for part of one more line only.
	child := journalChild(t, j.Path(), 5, st.Size()+40)
	err = child.Wait()
	if err == nil {
		t.Fatal("the writer was not stopped by its file size limit")
	}
	if got, _ := os.Stat(j.Path()); got.Size() == st.Size() {
		t.Logf("the failed append was taken back")
	}
	// The next runs append, read and undo as if nothing had happened.
	if _, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 30}); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 40}); err != nil {
		t.Fatal(err)
	}
	entries := checkSeqs(t, j)
	if len(entries) != 5 || entries[4].MaxRequestsInflight != 40 {
		t.Fatalf("journal holds %d entries, want the 3 moves and 2 ramps: %+v", len(entries), entries)
	}
	if _, err := Undo(context.Background(), l, j, UndoOptions{}); err != nil {
		t.Fatal(err)
	}
	sameTree(t, before, tree(t, manifests))
	checkSeqs(t, j)
}

func TestJournalTornLastLineIsReportedCutOffAndKept(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, manifests)
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	// What a power cut mid-append leaves: half of the last line on disk.
	data, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	lastStart := bytes.LastIndexByte(data[:len(data)-1], '\n') + 1
	cut := lastStart + (len(data)-lastStart)/2
	if err := os.Truncate(j.Path(), int64(cut)); err != nil {
		t.Fatal(err)
	}
	entries, torn, err := j.Inspect()
	if err != nil || len(entries) != 2 || len(torn) != cut-lastStart {
		t.Fatalf("inspect: %d entries, torn %d bytes (want %d), %v", len(entries), len(torn), cut-lastStart, err)
	}
	var warned string
	j.Warn = func(m string) { warned = m }
	e, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 30})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 3 || !strings.Contains(warned, "torn") {
		t.Fatalf("append: seq %d, warning %q", e.Seq, warned)
	}
	aside, _ := filepath.Glob(j.Path() + ".torn-*")
	if len(aside) != 1 {
		t.Fatalf("torn bytes not kept: %v", aside)
	}
	if kept, _ := os.ReadFile(aside[0]); string(kept) != string(torn) {
		t.Fatalf("kept %q, want %q", kept, torn)
	}
	if _, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 40}); err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, j)
	// The move whose entry was torn is not in the journal: undo brings back
	// the two it knows of and says nothing of the third (its copy stays in
	// quarantine, where plan shows it).
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restored := 0
	for _, s := range steps {
		if s.Action == ActQuarantine && s.Result == ResultOK {
			restored++
		}
	}
	if restored != 2 {
		t.Fatalf("undo restored %d manifests, want 2: %+v", restored, steps)
	}
	if n := len(tree(t, manifests)); n != len(before)-1 {
		t.Fatalf("manifest dir holds %d files, want %d", n, len(before)-1)
	}
}

func TestJournalConcurrentAppendersGetDistinctSeqs(t *testing.T) {
	dir := t.TempDir()
	j := OpenJournal(filepath.Join(dir, "journal.jsonl"))
	const each = 40
	a, b := journalChild(t, j.Path(), each, 0), journalChild(t, j.Path(), each, 0)
	for _, c := range []*exec.Cmd{a, b} {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if entries := checkSeqs(t, j); len(entries) != 2*each {
		t.Fatalf("%d entries, want %d", len(entries), 2*each)
	}
}

// What an older etcdmedic left after a crash mid-append: the next entry
// glued onto the torn line. The journal reads again (the fragment dropped)
// and appends go on.
func TestJournalWithAnEntryGluedOntoATornLineReadsAgain(t *testing.T) {
	root, manifests := fixtureRoot(t)
	before := tree(t, manifests)
	l, j := mustLayout(t, root)
	if _, err := EtcdOnly(l, j); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(j.Path())
	lines := bytes.SplitAfter(data, []byte("\n"))
	// Line 2 torn half-way, line 3 glued onto it.
	glued := append(append(append([]byte{}, lines[0]...), lines[1][:len(lines[1])/2]...), lines[2]...)
	if err := os.WriteFile(j.Path(), glued, 0o600); err != nil {
		t.Fatal(err)
	}
	entries, err := j.Read()
	if err != nil || len(entries) != 2 || entries[1].Seq != 3 {
		t.Fatalf("read %d entries (%v), want #1 and #3: %+v", len(entries), err, entries)
	}
	if _, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 30}); err != nil {
		t.Fatal(err)
	}
	if entries, err = j.Read(); err != nil || len(entries) != 3 || entries[2].Seq != 4 {
		t.Fatalf("after an append: %d entries, %v", len(entries), err)
	}
	steps, err := Undo(context.Background(), l, j, UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tree(t, manifests)); n != len(before)-1 || len(steps) != 3 {
		t.Fatalf("undo: %d steps, %d files back of %d", len(steps), n, len(before))
	}
}

// A writer SIGKILLed while it appends as fast as it can: whatever it left,
// the journal reads, its seqs run on, and the next append lands after it.
func TestJournalAppenderKilledMidRunLeavesItUsable(t *testing.T) {
	j := OpenJournal(filepath.Join(t.TempDir(), "journal.jsonl"))
	child := journalChild(t, j.Path(), 1_000_000, 0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, _ := os.ReadFile(j.Path())
		if bytes.Count(data, []byte("\n")) >= 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer appended fewer than 50 entries in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err == nil {
		t.Fatal("the writer was not killed")
	}
	entries := checkSeqs(t, j)
	e, err := j.Append(Entry{Action: ActRamp, Result: ResultOK, MaxRequestsInflight: 7})
	if err != nil || e.Seq != len(entries)+1 {
		t.Fatalf("append after the kill: seq %d, want %d: %v", e.Seq, len(entries)+1, err)
	}
	checkSeqs(t, j)
}
