// keys.go owns the key grammar shared by the store and the service edge:
// dot-separated non-empty tokens of [-/_=a-zA-Z0-9], at most MaxKeyBytes.

package kv

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// MaxKeyBytes is the longest key, in bytes, that the store accepts.
const MaxKeyBytes = 512

// ValidKey reports why key is not a valid store key, or nil when it is.
// A valid key matches ^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$ and is at most
// MaxKeyBytes long. It is hand-written rather than a regexp because Apply
// calls it for every command; a test checks it against the regexp.
func ValidKey(key string) error { return validKey(key) }

// ValidKeyBytes is ValidKey for a key held in bytes (a view into a request),
// without converting it to a string; the error, if any, is ValidKey's.
func ValidKeyBytes(key []byte) error { return validKey(key) }

func validKey[K string | []byte](key K) error {
	if len(key) == 0 {
		return fmt.Errorf("invalid key: empty")
	}
	if len(key) > MaxKeyBytes {
		return fmt.Errorf("invalid key: %d bytes, the limit is %d", len(key), MaxKeyBytes)
	}
	tokenStart := true // the next byte begins a token, so it must not be a dot
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '.':
			if tokenStart {
				return fmt.Errorf("invalid key %q: empty token at byte %d (leading or double dot)", key, i)
			}
			tokenStart = true
		case keyChar(c):
			tokenStart = false
		default:
			return fmt.Errorf("invalid key %q: character %s at byte %d is not one of - / _ = . a-z A-Z 0-9", key, quoteCharAt(string(key[i:])), i)
		}
	}
	if tokenStart {
		return fmt.Errorf("invalid key %q: empty last token (trailing dot)", key)
	}
	return nil
}

// keyChar reports whether c may appear inside a token.
func keyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '/' || c == '_' || c == '='
}

// quoteCharAt quotes the character s starts with: the whole UTF-8 rune (not
// its first byte, which would print as another letter), or the byte in hex
// when s does not start with valid UTF-8.
func quoteCharAt(s string) string {
	r, size := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte 0x%02x", s[0])
	}
	return strconv.QuoteRune(r)
}
