// Package output is the one printer layer: capabilities return data, and this
// package renders it as a table for people or JSON/YAML for machines.
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"
)

type Format string

const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

var Formats = []string{string(Table), string(JSON), string(YAML)}

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
	case Table, JSON, YAML:
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
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteJSONLine writes v as one compact JSON line (event streams).
func WriteJSONLine(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
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
