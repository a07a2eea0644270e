package cluster

import (
	"fmt"
	"os"
	"strconv"

	"sigs.k8s.io/yaml"
)

// readEtcdConfigFile reads an etcd --config-file (YAML with etcd's config
// names, as k3s writes it for RKE2 and for its own embedded etcd) into the
// flag names the rest of discovery reads. The TLS settings live in nested
// sections there and in flat flags on a command line.
func readEtcdConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("etcd config %s: %v", path, err)
	}
	flags := map[string]string{}
	for k, v := range raw {
		switch k {
		case "client-transport-security", "peer-transport-security":
			sec, _ := v.(map[string]any)
			prefix := ""
			if k == "peer-transport-security" {
				prefix = "peer-"
			}
			for sk, sv := range sec {
				flags[prefix+sk] = scalar(sv)
			}
		default:
			flags[k] = scalar(v)
		}
	}
	return flags, nil
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}
