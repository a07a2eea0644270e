package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// K3sAPIServerFlags are the flags k3s passes to the kube-apiserver it runs
// in its own process: the "kube-apiserver-arg" entries (key=value, a list
// or one string) of /etc/rancher/k3s/config.yaml and then of each
// config.yaml.d/*.yaml in name order, where "kube-apiserver-arg+" appends
// and "kube-apiserver-arg" replaces, as k3s merges them. source names the
// files read, for advice. No config file is no flags (an empty map: the
// apiserver's defaults), not an error.
func K3sAPIServerFlags(root string) (flags map[string]string, source string, err error) {
	main := hostPath(root, k3sConfig)
	drops, _ := filepath.Glob(hostPath(root, k3sConfig+".d/*.yaml"))
	sort.Strings(drops)
	var args []string
	for _, path := range append([]string{main}, drops...) {
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, main, err
		}
		var cfg map[string]json.RawMessage
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, main, fmt.Errorf("%s: %w", path, err)
		}
		if raw, ok := cfg["kube-apiserver-arg"]; ok {
			if args, err = stringOrList(raw); err != nil {
				return nil, main, fmt.Errorf("%s: kube-apiserver-arg: %w", path, err)
			}
		}
		if raw, ok := cfg["kube-apiserver-arg+"]; ok {
			more, err := stringOrList(raw)
			if err != nil {
				return nil, main, fmt.Errorf("%s: kube-apiserver-arg+: %w", path, err)
			}
			args = append(args, more...)
		}
	}
	flags = map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		flags[k] = v
	}
	return flags, main + " (kube-apiserver-arg)", nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		return list, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, errors.New("neither a string nor a list of strings")
	}
	return []string{one}, nil
}
