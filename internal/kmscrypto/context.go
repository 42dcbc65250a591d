package kmscrypto

import (
	"encoding/binary"
	"slices"
)

// CanonicalContext encodes an encryption context so that two different maps
// never encode alike: the pair count, then each pair in byte order of keys,
// each key and value prefixed by its length (all uint32 big-endian). Naive
// concatenation would make {"ab":"c"} and {"a":"bc"} collide. Nil and empty
// contexts both encode as four zero bytes.
func CanonicalContext(ec map[string]string) []byte {
	return appendContext(nil, ec)
}

func appendContext(dst []byte, ec map[string]string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(ec)))
	if len(ec) == 0 {
		return dst
	}
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := ec[k]
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(k)))
		dst = append(dst, k...)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(v)))
		dst = append(dst, v...)
	}
	return dst
}
