package snapshot

import "sync"

// asyncChunks bounds what the receive loop may run ahead of the upload: etcd
// sends 32 KiB blobs, so 160 of them are 5 MiB, one upload part.
const asyncChunks = 160

// asyncWriter hands writes to a goroutine through a bounded queue, so the
// member's stream and the upload (hashing, compression, encryption, parts
// waiting for the network) overlap instead of taking turns. A slice passed
// to Write must not be reused by the caller; a chunk passed to writeChunk
// is held until written.
type asyncWriter struct {
	ch   chan queuedWrite
	done chan struct{}
	mu   sync.Mutex
	err  error
	once sync.Once
}

func newAsyncWriter(w interface{ Write([]byte) (int, error) }, n int) *asyncWriter {
	a := &asyncWriter{ch: make(chan queuedWrite, n), done: make(chan struct{})}
	go func() {
		defer close(a.done)
		for q := range a.ch {
			if a.failed() == nil { // else drain, so the producer never blocks on a dead upload
				if _, err := w.Write(q.b); err != nil {
					a.mu.Lock()
					a.err = err
					a.mu.Unlock()
				}
			}
			if q.chunk != nil {
				q.chunk.release()
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
	a.ch <- queuedWrite{b: p}
	return len(p), nil
}

func (a *asyncWriter) writeChunk(c *snapshotChunk) error {
	if err := a.failed(); err != nil {
		return err
	}
	c.hold()
	a.ch <- queuedWrite{b: c.blob, chunk: c}
	return nil
}

type queuedWrite struct {
	b     []byte
	chunk *snapshotChunk // released once b is written
}

// Close waits for every queued write and returns the first error.
func (a *asyncWriter) Close() error {
	a.once.Do(func() { close(a.ch) })
	<-a.done
	return a.failed()
}
