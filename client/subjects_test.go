package client

import (
	"errors"
	"strings"
	"testing"
)

// A refused character is named as the user typed it: the whole rune, or the
// byte in hex when the key is not UTF-8.
func TestValidateKeyNamesTheWholeCharacter(t *testing.T) {
	for key, want := range map[string]string{
		"ä":      `invalid character 'ä'`,
		"a.\xff": `invalid character byte 0xff`,
	} {
		err := ValidateKey(key)
		if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateKey(%q) = %v, want a bad request saying %s", key, err, want)
		}
	}
}
