package snapshot

import "hash/maphash"

// keySet counts the live user keys of a walk by a 128-bit hash of each key
// rather than the key itself: a string per key cost one allocation each and
// the keys' own bytes (47 MB and a third of a small-key walk's time at 400k
// keys), where two 64-bit hashes are 16 bytes and none. Two distinct keys
// of a database of n keys share both hashes with a probability near
// n²/2¹²⁹ (1e-27 at ten million keys): the count is exact in practice.
type keySet struct {
	seeds [2]maphash.Seed
	set   map[[2]uint64]struct{}
}

func newKeySet() *keySet {
	return &keySet{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, set: map[[2]uint64]struct{}{}}
}

func (s *keySet) sum(k []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(s.seeds[0], k), maphash.Bytes(s.seeds[1], k)}
}

func (s *keySet) add(k []byte)    { s.set[s.sum(k)] = struct{}{} }
func (s *keySet) remove(k []byte) { delete(s.set, s.sum(k)) }
func (s *keySet) len() int        { return len(s.set) }
