// Package output is the one printer layer: capabilities return data, and this
// package renders it as a table for people or JSON/YAML for machines.
package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

type Format string

const (
	Table Format = "table"
	// Wide is the table with every column, however narrow the terminal.
	Wide Format = "wide"
	JSON Format = "json"
	YAML Format = "yaml"
)

var Formats = []string{string(Table), string(Wide), string(JSON), string(YAML)}

// FormatFlag is a pflag.Value that rejects unknown formats at parse time.
type FormatFlag struct{ Value Format }

func (f *FormatFlag) String() string {
	if f.Value == "" {
		return string(Table)
	}
	return string(f.Value)
}

func (f *FormatFlag) Set(s string) error {
	switch Format(strings.ToLower(s)) {
	case Table, Wide, JSON, YAML:
		f.Value = Format(strings.ToLower(s))
		return nil
	}
	return fmt.Errorf("must be one of: %s", strings.Join(Formats, ", "))
}

func (f *FormatFlag) Type() string { return "format" }

// Machine reports whether the format is for programs (no colour, no progress on stdout).
func (f Format) Machine() bool { return f == JSON || f == YAML }

// WriteJSON writes v as indented JSON with a trailing newline.
func WriteJSON(w io.Writer, v any) error {
	enc := NewJSONEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSONLine writes v as one compact JSON line (event streams).
func WriteJSONLine(w io.Writer, v any) error {
	return NewJSONEncoder(w).Encode(v)
}

// NewJSONEncoder is the encoder for everything etcdmedic writes as JSON:
// without HTML escaping, so a rule "fragmentation >= 0.5" or a key
// "/registry/a&b" reads as written (jq shows "\u003e" otherwise).
func NewJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// Marshal and MarshalIndent are json.Marshal and json.MarshalIndent (two
// spaces) without HTML escaping, for what is written to files (journals,
// snapshot metadata) rather than to a stream.
func Marshal(v any) ([]byte, error) { return marshal(v, "") }

func MarshalIndent(v any) ([]byte, error) { return marshal(v, "  ") }

func marshal(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := NewJSONEncoder(&b)
	enc.SetIndent("", indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// WriteYAML writes v as YAML with the same field names as its JSON form:
// the JSON tags are the contract, so YAML goes through them.
func WriteYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Write renders v in a machine format; table output is the caller's.
func Write(w io.Writer, f Format, v any) error {
	switch f {
	case JSON:
		return WriteJSON(w, v)
	case YAML:
		return WriteYAML(w, v)
	}
	return fmt.Errorf("output: %q is not a machine format", f)
}
