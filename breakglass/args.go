package breakglass

import (
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/etcdmedic/etcdmedic/cluster"
	"github.com/etcdmedic/etcdmedic/internal/fault"
)

// ErrRefused is a safety check that refused to act; nothing was changed.
var ErrRefused = fault.Mark(errors.New("refused"), fault.Refused)

// Args edits a component's command line in place. kubeadm writes
// --flag=value; the --flag value form is read too.
type Args struct{ argv []string }

// NewArgs wraps a command line.
func NewArgs(argv []string) *Args { return &Args{argv: append([]string{}, argv...)} }

func (a *Args) find(name string) (i int, hasInline bool) { return a.findFrom(name, 0) }

func (a *Args) findFrom(name string, from int) (int, bool) {
	for i := from; i < len(a.argv); i++ {
		s := a.argv[i]
		if s == "--"+name {
			return i, false
		}
		if strings.HasPrefix(s, "--"+name+"=") {
			return i, true
		}
	}
	return -1, false
}

// Get returns the flag's value, "" when absent; the last occurrence wins,
// as with the binaries themselves (the same reading as cluster.ParseFlags).
func (a *Args) Get(name string) string { return cluster.ParseFlags(a.argv)[name] }

// Has says whether the flag is present.
func (a *Args) Has(name string) bool { i, _ := a.find(name); return i >= 0 }

// Set replaces the flag's value, or appends it.
func (a *Args) Set(name, value string) {
	if i, inline := a.find(name); i >= 0 && inline {
		a.argv[i] = "--" + name + "=" + value
		for j, _ := a.findFrom(name, i+1); j >= 0; j, _ = a.findFrom(name, i+1) {
			a.argv = append(a.argv[:j], a.argv[j+1:]...)
		}
		return
	}
	a.Delete(name)
	a.argv = append(a.argv, "--"+name+"="+value)
}

// Delete removes every occurrence of the flag.
func (a *Args) Delete(name string) {
	for {
		i, inline := a.find(name)
		if i < 0 {
			return
		}
		n := 1
		if !inline && i+1 < len(a.argv) && !strings.HasPrefix(a.argv[i+1], "-") {
			n = 2
		}
		a.argv = append(a.argv[:i], a.argv[i+n:]...)
	}
}

// ContainerArgs edits a container's flags where they are: a flag found in
// `command:` stays in command, one in `args:` stays in args, and a new one
// goes at the end of args (of command when the container has no args), so
// the generated manifest reads like the original with a few lines changed.
type ContainerArgs struct{ command, args *Args }

// NewContainerArgs wraps a container's command and args.
func NewContainerArgs(command, args []string) *ContainerArgs {
	return &ContainerArgs{command: NewArgs(command), args: NewArgs(args)}
}

func (c *ContainerArgs) all() *Args {
	return &Args{argv: append(append([]string{}, c.command.argv...), c.args.argv...)}
}

// Get returns the flag's value from the whole command line, "" when absent.
func (c *ContainerArgs) Get(name string) string { return c.all().Get(name) }

// Has says whether the flag is in command or args.
func (c *ContainerArgs) Has(name string) bool { return c.command.Has(name) || c.args.Has(name) }

// Set replaces the flag's value where it is, or adds it.
func (c *ContainerArgs) Set(name, value string) {
	switch {
	case c.command.Has(name):
		c.command.Set(name, value)
		c.args.Delete(name)
	case c.args.Has(name) || len(c.args.argv) > 0:
		c.args.Set(name, value)
	default:
		c.command.Set(name, value)
	}
}

// Delete removes every occurrence of the flag from command and args.
func (c *ContainerArgs) Delete(name string) {
	c.command.Delete(name)
	c.args.Delete(name)
}

// Command is the edited `command:`.
func (c *ContainerArgs) Command() []string { return c.command.argv }

// containerFlags reads a container's whole command line: command, then args.
func containerFlags(c *corev1.Container) *Args { return NewContainerArgs(c.Command, c.Args).all() }

// Args is the edited `args:`, nil when empty.
func (c *ContainerArgs) Args() []string {
	if len(c.args.argv) == 0 {
		return nil
	}
	return c.args.argv
}
