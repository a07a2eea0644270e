package snapshot

import "sync"

// asyncChunks bounds what the receive loop may run ahead of the upload: etcd
// sends 32 KiB blobs, so 160 of them are 5 MiB, one upload part.
const asyncChunks = 160

// asyncWriter hands writes to a goroutine through a bounded queue, so the
// member's stream and the upload (hashing, compression, encryption, parts
// waiting for the network) overlap instead of taking turns. Writers must
// not reuse a slice they passed in (each gRPC Recv returns a fresh one).
type asyncWriter struct {
	ch   chan []byte
	done chan struct{}
	mu   sync.Mutex
	err  error
	once sync.Once
}

func newAsyncWriter(w interface{ Write([]byte) (int, error) }, n int) *asyncWriter {
	a := &asyncWriter{ch: make(chan []byte, n), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for b := range a.ch {
			if a.failed() != nil {
				continue // drain, so the producer never blocks on a dead upload
			}
			if _, err := w.Write(b); err != nil {
				a.mu.Lock()
				a.err = err
				a.mu.Unlock()
			}
		}
	}()
	return a
}

func (a *asyncWriter) failed() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

func (a *asyncWriter) Write(p []byte) (int, error) {
	if err := a.failed(); err != nil {
		return 0, err
	}
	a.ch <- p
	return len(p), nil
}

// Close waits for every queued write and returns the first error.
func (a *asyncWriter) Close() error {
	a.once.Do(func() { close(a.ch) })
	<-a.done
	return a.failed()
}
