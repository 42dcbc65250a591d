package barrier

// Test-only access to the barrier's internals. It is compiled only into this
// package's tests, so none of it is reachable from production code.

// KeyringKeysForTest returns copies of the live keyring's keys, in term
// order, so tests can scan storage for them. It returns nil when sealed.
func KeyringKeysForTest(b *Barrier) [][]byte {
	b.krMu.Lock()
	defer b.krMu.Unlock()
	kr := b.kr.Load()
	if kr == nil {
		return nil
	}
	var out [][]byte
	for t := uint32(1); len(out) < len(kr.keys); t++ {
		if k, ok := kr.keys[t]; ok {
			out = append(out, append([]byte(nil), k...))
		}
	}
	return out
}

// LiveKeysForTest returns the live keyring's key slices themselves (not
// copies), so a test can watch Seal zero them.
func LiveKeysForTest(b *Barrier) [][]byte {
	b.krMu.Lock()
	defer b.krMu.Unlock()
	var out [][]byte
	if kr := b.kr.Load(); kr != nil {
		for _, k := range kr.keys {
			out = append(out, k)
		}
	}
	return out
}

// OpenForTest runs the value opener against the live keyring, as Get does
// for a value read from path. It decrypts in place: sealed is consumed.
func OpenForTest(b *Barrier, path string, sealed []byte) ([]byte, error) {
	kr, err := b.snapshot()
	if err != nil {
		return nil, err
	}
	return open(kr, path, sealed)
}

// RetiredForTest reports how many replaced keyrings the barrier keeps.
func RetiredForTest(b *Barrier) int {
	b.krMu.Lock()
	defer b.krMu.Unlock()
	return len(b.retired)
}
