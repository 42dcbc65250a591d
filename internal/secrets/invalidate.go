package secrets

import "strings"

// InvalidatePath drops what the service cached from the storage path p,
// which another node sharing the storage changed (a secret's record or a
// version's value). Other paths are ignored. It takes the store's write
// lock, so a read miss that began before the change cannot install what it
// read afterwards.
func (s *Service) InvalidatePath(p string) {
	if !strings.HasPrefix(p, "secrets/") {
		return
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.secrets.Delete(p)
	s.st.values.Delete(p)
}

// ForgetAll drops every cached secret and value, for when changes made by
// other nodes may have been missed.
func (s *Service) ForgetAll() {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	s.st.secrets.Clear()
	s.st.values.Clear()
}

// SetGate installs fn, asked before every read of a secret or a version
// that the cache may answer; when it returns an error the read fails with
// it. The server passes storage.Fresh when several nodes share storage, so
// that a node cut off from the others' changes stops serving values that
// may have been replaced or deleted elsewhere.
func (s *Service) SetGate(fn func() error) { s.st.gate.Set(fn) }
