package relatedevents

import "hash/maphash"

// evictedKeys remembers the objects whose events were evicted since the
// last reset: a Bloom filter of fixed size, so it has no false negatives
// and never grows. A false positive only sends one object's lookups to the
// fallback list.
type evictedKeys struct {
	seed maphash.Seed
	bits []uint64
}

const (
	bloomBytes  = 64 << 10
	bloomBits   = bloomBytes * 8
	bloomHashes = 4 // about 7 % false positives at 95,000 evicted objects, 0.03 % at 18,000
)

func newEvictedKeys() *evictedKeys {
	return &evictedKeys{seed: maphash.MakeSeed(), bits: make([]uint64, bloomBits/64)}
}

// positions yields the key's bit positions by double hashing the two
// halves of one 64-bit hash (Kirsch and Mitzenmacher).
func (f *evictedKeys) positions(k key, each func(bit uint32)) {
	var h maphash.Hash
	h.SetSeed(f.seed)
	_, _ = h.WriteString(k.namespace)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(k.kind)
	_ = h.WriteByte(0)
	_, _ = h.WriteString(k.name)
	sum := h.Sum64()
	h1, h2 := uint32(sum), uint32(sum>>32)|1
	for i := range uint32(bloomHashes) {
		each((h1 + i*h2) % bloomBits)
	}
}

func (f *evictedKeys) add(k key) {
	f.positions(k, func(b uint32) { f.bits[b/64] |= 1 << (b % 64) })
}

func (f *evictedKeys) mayContain(k key) bool {
	all := true
	f.positions(k, func(b uint32) { all = all && f.bits[b/64]&(1<<(b%64)) != 0 })
	return all
}

func (f *evictedKeys) clear() { clear(f.bits) }
