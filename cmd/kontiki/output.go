// This file owns how values and documents are printed: JSON documents, and
// values as text (raw, quoted when not printable, base64 in JSON when not
// UTF-8).
package main

import (
	"encoding/json"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// writeJSON prints v as an indented JSON document.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jsonLine returns an encoder of one compact JSON object per line.
func jsonLine(e *cliEnv) *json.Encoder { return json.NewEncoder(e.stdout) }

// jsonValue is a value in JSON output: "value" as a string when the bytes are
// UTF-8, else "value_base64".
type jsonValue struct {
	Value       *string `json:"value,omitempty"`
	ValueBase64 []byte  `json:"value_base64,omitempty"`
}

func newJSONValue(v []byte) jsonValue {
	if utf8.Valid(v) {
		s := string(v)
		return jsonValue{Value: &s}
	}
	return jsonValue{ValueBase64: v}
}

// displayValue renders a value on one table line: as is when printable, else
// Go-quoted.
func displayValue(v []byte) string {
	s := string(v)
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' {
			return strconv.Quote(s)
		}
	}
	return s
}

// optionalUint is a flag that records whether it was given.
type optionalUint struct {
	set bool
	n   uint64
}

func (o *optionalUint) String() string {
	if o == nil || !o.set {
		return ""
	}
	return strconv.FormatUint(o.n, 10)
}

func (o *optionalUint) Set(s string) error {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return err
	}
	o.set, o.n = true, n
	return nil
}
