// keys_test.go checks ValidKey against the documented regexp.

package kv

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

var keyRE = regexp.MustCompile(`^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$`)

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"a.b.c", true},
		{"user/42=x_y-z.Name9", true},
		{strings.Repeat("k", MaxKeyBytes), true},
		{strings.Repeat("k", MaxKeyBytes+1), false},
		{"", false},
		{".", false},
		{".a", false},
		{"a.", false},
		{"a..b", false},
		{"a b", false},
		{"a*", false},
		{"a.>", false},
		{"é", false},
		{"a\x00", false},
	} {
		err := ValidKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("ValidKey(%.20q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		// The bytes form refuses the same keys with the same words.
		if berr := ValidKeyBytes([]byte(tc.key)); fmt.Sprint(berr) != fmt.Sprint(err) {
			t.Errorf("ValidKeyBytes(%.20q) = %v, ValidKey: %v", tc.key, berr, err)
		}
	}
}

// TestValidKeyMatchesRegexp compares the hand-written checker with the
// regexp on random strings over an alphabet dense in edge cases.
func TestValidKeyMatchesRegexp(t *testing.T) {
	const alphabet = "a.Z9-/_=.. *>é"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		n := rng.IntN(8)
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[rng.IntN(len(alphabet))])
		}
		k := b.String()
		if got, want := ValidKey(k) == nil, keyRE.MatchString(k); got != want {
			t.Fatalf("ValidKey(%q) ok=%v, regexp says %v", k, got, want)
		}
	}
}

// A refused character is named as the user typed it: the whole rune, or the
// byte in hex when the key is not UTF-8.
func TestValidKeyNamesTheWholeCharacter(t *testing.T) {
	for key, want := range map[string]string{
		"aä":    `character 'ä' at byte 1`,
		"a\xff": `character byte 0xff at byte 1`,
		"a b":   `character ' ' at byte 1`,
	} {
		if err := ValidKey(key); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidKey(%q) = %v, want it to say %s", key, err, want)
		}
	}
}
