package breakglass

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// PodFilter chooses the pods to purge. Empty lists match everything.
type PodFilter struct {
	Phases     []corev1.PodPhase
	Namespaces []string
	Selector   labels.Selector // nil: every pod
	OlderThan  time.Duration   // by creationTimestamp
	Nodes      []string
	OwnerKinds []string
	Now        time.Time
}

// ParsePhases reads a comma-separated phase list, case-insensitively.
func ParsePhases(csv string) ([]corev1.PodPhase, error) {
	known := []corev1.PodPhase{corev1.PodPending, corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown}
	var out []corev1.PodPhase
	for _, p := range splitCSV(csv) {
		found := false
		for _, k := range known {
			if strings.EqualFold(p, string(k)) {
				out, found = append(out, k), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown pod phase %q (want Pending, Running, Succeeded, Failed or Unknown)", p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no pod phase given")
	}
	return out, nil
}

// ParseSelector reads label selector syntax (app=x,tier!=web,env in (a,b)).
func ParseSelector(s string) (labels.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", s, err)
	}
	return sel, nil
}

// Match says whether the pod is to be purged.
func (f *PodFilter) Match(p *corev1.Pod) bool {
	if len(f.Phases) > 0 && !contains(f.Phases, p.Status.Phase) {
		return false
	}
	if len(f.Namespaces) > 0 && !contains(f.Namespaces, p.Namespace) {
		return false
	}
	if len(f.Nodes) > 0 && !contains(f.Nodes, p.Spec.NodeName) {
		return false
	}
	if f.Selector != nil && !f.Selector.Matches(labels.Set(p.Labels)) {
		return false
	}
	if f.OlderThan > 0 {
		now := f.Now
		if now.IsZero() {
			now = time.Now()
		}
		if p.CreationTimestamp.IsZero() || now.Sub(p.CreationTimestamp.Time) < f.OlderThan {
			return false
		}
	}
	if len(f.OwnerKinds) > 0 {
		ok := false
		for _, o := range p.OwnerReferences {
			for _, k := range f.OwnerKinds {
				if strings.EqualFold(o.Kind, k) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
