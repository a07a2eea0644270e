package cmdutil

import (
	"fmt"
	"os"

	"golang.org/x/term"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// promptPassword asks for the password of a --user given without one, as
// etcdctl does, when stdin is a terminal. Printed next steps carry --user
// NAME and never the password, so this is how one pasted after a run whose
// password came from a flag logs in. Without a terminal (cron, CI) nothing is
// asked and etcd's refusal says what is missing.
func (f *Factory) promptPassword(cfg *cluster.Config) error {
	if cfg.User == "" || cfg.Password != "" {
		return nil
	}
	in, ok := f.IOStreams.In.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return nil
	}
	fmt.Fprintf(f.IOStreams.ErrOut, "Password for etcd user %s: ", cfg.User)
	pw, err := term.ReadPassword(int(in.Fd()))
	fmt.Fprintln(f.IOStreams.ErrOut)
	if err != nil {
		return fmt.Errorf("read the password of etcd user %s: %w", cfg.User, err)
	}
	cfg.Password, cfg.Sources["password"] = string(pw), "prompt"
	return nil
}
