package step

import (
	"github.com/etcdmedic/etcdmedic/internal/iostreams"
	"github.com/etcdmedic/etcdmedic/internal/output"
)

// Viewer is anything a command shows: read-only reports (plan, journal)
// render through the same printer as the steps.
type Viewer interface {
	Table(io *iostreams.IOStreams) error
}

// YAMLDocument is a result whose YAML form is a document of its own rather
// than its fields: the break-glass apiserver's -o yaml is the Pod manifest,
// ready to be written to a file.
type YAMLDocument interface {
	YAMLDocument() []byte
}

// Render prints v as a table, JSON or YAML.
func Render(io *iostreams.IOStreams, f output.Format, v Viewer) error {
	if d, ok := v.(YAMLDocument); ok && f == output.YAML {
		_, err := io.Out.Write(d.YAMLDocument())
		return err
	}
	if f.Machine() {
		return output.Write(io.Out, f, v)
	}
	return v.Table(io)
}

// show renders a step's result; a nil one (an apply that failed before
// doing anything) prints nothing.
func show[R Result](o Options, r R) error {
	var none R
	if r == none {
		return nil
	}
	return Render(o.IO, o.Format, r)
}
