// This file owns the NATS subjects of the client service and the key rules
// that keep a key a valid subject suffix.
package client

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxKeyLen is the longest key the cluster accepts, in bytes.
const MaxKeyLen = 512

// ValueRoom is the part of the connection's max payload kept for the key,
// headers and raft envelope: the largest value is MaxPayload-ValueRoom.
const ValueRoom = 64 << 10

// subjects builds the subjects of one cluster.
type subjects struct{ base string } // "kontiki.<c>"

func newSubjects(cluster string) subjects { return subjects{base: "kontiki." + cluster} }

// any is the queue-group subject of an endpoint, e.g. "kv.put.a.b".
func (s subjects) any(endpoint string) string { return s.base + "." + endpoint }

// member is the subject of an endpoint on one member.
func (s subjects) member(id uint64, endpoint string) string {
	return s.base + ".member." + strconv.FormatUint(id, 10) + "." + endpoint
}

func (s subjects) watch() string  { return s.base + ".kv.watch" }
func (s subjects) status() string { return s.base + ".admin.status" }

// ValidateKey reports whether key is a valid Kontiki key: dot-separated
// non-empty tokens of [-/_=a-zA-Z0-9], at most MaxKeyLen bytes. The error
// wraps ErrBadRequest.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrBadRequest)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key is %d bytes, at most %d allowed", ErrBadRequest, len(key), MaxKeyLen)
	}
	tokenStart := true
	for i := 0; i < len(key); i++ {
		b := key[i]
		if b == '.' {
			if tokenStart {
				return fmt.Errorf("%w: key %q has an empty token", ErrBadRequest, key)
			}
			tokenStart = true
			continue
		}
		if !keyByte(b) {
			return fmt.Errorf("%w: key %q has invalid character %s", ErrBadRequest, key, quoteCharAt(key[i:]))
		}
		tokenStart = false
	}
	if tokenStart {
		return fmt.Errorf("%w: key %q ends with a dot", ErrBadRequest, key)
	}
	return nil
}

// ValidatePrefix reports whether prefix can start a key: empty, a key, or a
// key followed by one dot. The error wraps ErrBadRequest.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if len(prefix) > MaxKeyLen {
		return fmt.Errorf("%w: prefix is %d bytes, at most %d allowed", ErrBadRequest, len(prefix), MaxKeyLen)
	}
	k := prefix
	if k[len(k)-1] == '.' {
		k = k[:len(k)-1]
	}
	if err := ValidateKey(k); err != nil {
		return fmt.Errorf("%w: invalid prefix %q", ErrBadRequest, prefix)
	}
	return nil
}

// quoteCharAt quotes the character s starts with: the whole UTF-8 rune, or
// the byte in hex when s does not start with valid UTF-8.
func quoteCharAt(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[0])
	}
	return strconv.QuoteRune(r)
}

func keyByte(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	case b == '-', b == '/', b == '_', b == '=':
		return true
	}
	return false
}
