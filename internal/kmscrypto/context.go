package kmscrypto

import (
	"encoding/binary"
	"slices"
)

// CanonicalContext encodes an encryption context so that two different maps
// never encode alike:
//
//	uint32 pair count
//	for each pair, keys in byte order:
//	    uint32 len(key)   key bytes
//	    uint32 len(value) value bytes
//
// All integers are big-endian. Length prefixes (rather than separators) are
// what keep {"ab":"c"} and {"a":"bc"} apart, and keep any byte, NUL included,
// usable in keys and values. Nil and empty contexts both encode as four zero
// bytes, so they are the same context.
func CanonicalContext(encCtx map[string]string) []byte {
	var kbuf [stackKeys]string
	keys := sortedKeys(kbuf[:0], encCtx)
	return appendContext(make([]byte, 0, contextLen(keys, encCtx)), keys, encCtx)
}

// stackKeys is how many context keys sort without a heap allocation; AWS
// callers rarely use more.
const stackKeys = 16

// sortedKeys appends the keys of ec to dst in byte order.
func sortedKeys(dst []string, ec map[string]string) []string {
	for k := range ec {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// contextLen is the length of the canonical encoding of ec, whose sorted
// keys are keys.
func contextLen(keys []string, ec map[string]string) int {
	n := 4
	for _, k := range keys {
		n += 8 + len(k) + len(ec[k])
	}
	return n
}

// appendContext appends the canonical encoding of ec, whose sorted keys are
// keys, to dst.
func appendContext(dst []byte, keys []string, ec map[string]string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(keys)))
	for _, k := range keys {
		v := ec[k]
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}
