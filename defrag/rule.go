package defrag

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/etcdmedic/etcdmedic/cluster"
)

// Rule presets: the thresholds experts act on.
var rulePresets = map[string]string{
	// OpenShift's defrag controller (cluster-etcd-operator):
	// maxFragmentedPercentage 45 and minDefragBytes 100*1024*1024.
	"openshift": "fragmentation >= 0.45 && dbSize >= 100*1024*1024",
	// The upstream etcd mixin's etcdDatabaseHighFragmentationRatio alert:
	// in use below half of the file, and over 100 MiB in use.
	"mixin": "dbSizeInUse / dbSize < 0.5 && dbSizeInUse > 100*1024*1024",
}

// RulePresetNames lists the presets.
func RulePresetNames() []string {
	var names []string
	for n := range rulePresets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// RulePreset returns a preset's expression.
func RulePreset(name string) (string, error) {
	r, ok := rulePresets[name]
	if !ok {
		return "", fmt.Errorf("unknown rule preset %q: valid presets are %s", name, strings.Join(RulePresetNames(), ", "))
	}
	return r, nil
}

// Rule decides per member whether to defragment it, from that member's fresh
// Status. Its variables carry the names and meaning of the widely used
// etcd-defrag tool's, so existing rules work unchanged; all are float64 so
// that dbSizeInUse / dbSize is not integer division.
type Rule struct {
	Source  string
	program func(*RuleVars) bool
}

// RuleVars are the values a rule sees for one member.
type RuleVars struct {
	DBSize        float64 `expr:"dbSize"`
	DBSizeInUse   float64 `expr:"dbSizeInUse"`
	DBSizeFree    float64 `expr:"dbSizeFree"`
	DBQuota       float64 `expr:"dbQuota"`
	DBQuotaUsage  float64 `expr:"dbQuotaUsage"`
	Fragmentation float64 `expr:"fragmentation"`
	IsLeader      bool    `expr:"isLeader"`
}

// ErrInvalidRule marks a rule that does not compile or is not a boolean.
var ErrInvalidRule = errors.New("invalid --rule")

// CompileRule checks a rule expression. An empty rule means "every member".
func CompileRule(src string) (*Rule, error) {
	if strings.TrimSpace(src) == "" {
		src = "true"
	}
	p, err := compileRuleExpr(src)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v (variables: dbSize, dbSizeInUse, dbSizeFree, dbQuota, dbQuotaUsage, fragmentation, isLeader)", ErrInvalidRule, src, err)
	}
	return &Rule{Source: src, program: p}, nil
}

// VarsOf computes a member's rule variables from its Status.
func VarsOf(st *cluster.MemberStatus) RuleVars {
	size, inUse := float64(st.Status.GetDbSize()), float64(st.Status.GetDbSizeInUse())
	v := RuleVars{DBSize: size, DBSizeInUse: inUse, DBSizeFree: size - inUse, DBQuota: float64(st.Quota),
		Fragmentation: st.Fragmentation(), IsLeader: st.IsLeader()}
	if st.Quota > 0 {
		v.DBQuotaUsage = size / float64(st.Quota)
	}
	return v
}

// Eval runs the rule on one member's variables.
func (r *Rule) Eval(v RuleVars) (bool, error) {
	return r.program(&v), nil
}

// Explain renders the variables a rule saw, for the plan's reasons.
func (v RuleVars) Explain() string {
	return fmt.Sprintf("dbSize=%.0f dbSizeInUse=%.0f dbSizeFree=%.0f dbQuota=%.0f dbQuotaUsage=%.3f fragmentation=%.3f isLeader=%v",
		v.DBSize, v.DBSizeInUse, v.DBSizeFree, v.DBQuota, v.DBQuotaUsage, v.Fragmentation, v.IsLeader)
}
