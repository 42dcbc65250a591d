package barrier

// KeyringKeysForTest returns copies of the keyring's keys, so tests can scan
// storage for them. It exists only in test builds.
func KeyringKeysForTest(b *Barrier) [][]byte {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var out [][]byte
	for _, k := range b.kr.keys {
		out = append(out, append([]byte(nil), k...))
	}
	return out
}
