package defrag

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/expr-lang/expr"
)

// The rule evaluator agrees with expr itself, the language etcd-defrag's
// rules are written in: random rules over the rule variables, compiled by
// both, evaluated on random members (expr stays a test dependency only).
func TestRulesEvaluateAsExprDoes(t *testing.T) {
	rng := rand.New(rand.NewSource(19))
	nums := []string{"dbSize", "dbSizeInUse", "dbSizeFree", "dbQuota", "dbQuotaUsage", "fragmentation", "0.5", "100*1024*1024", "2", "1_000", "1e3", ".25"}
	var num func(d int) string
	var boolean func(d int) string
	num = func(d int) string {
		if d <= 0 {
			return nums[rng.Intn(len(nums))]
		}
		switch rng.Intn(6) {
		case 0:
			return "-" + num(d-1)
		case 1:
			return "(" + num(d-1) + ")"
		case 2:
			return "(" + boolean(d-1) + " ? " + num(d-1) + " : " + num(d-1) + ")"
		case 3:
			return num(d-1) + " ** " + nums[6+rng.Intn(3)]
		}
		return num(d-1) + " " + []string{"+", "-", "*", "/"}[rng.Intn(4)] + " " + num(d-1)
	}
	boolean = func(d int) string {
		if d <= 0 {
			return []string{"isLeader", "true", "false"}[rng.Intn(3)]
		}
		switch rng.Intn(6) {
		case 0:
			return []string{"!", "not "}[rng.Intn(2)] + boolean(d-1)
		case 1:
			return "(" + boolean(d-1) + ")"
		case 2:
			return boolean(d-1) + " " + []string{"&&", "||", "and", "or", "==", "!="}[rng.Intn(6)] + " " + boolean(d-1)
		}
		return num(d-1) + " " + []string{"<", "<=", ">", ">=", "==", "!="}[rng.Intn(6)] + " " + num(d-1)
	}
	vars := func() RuleVars {
		size := float64(rng.Int63n(8 << 30))
		inUse := size * rng.Float64()
		v := RuleVars{DBSize: size, DBSizeInUse: inUse, DBSizeFree: size - inUse, DBQuota: float64(rng.Int63n(8 << 30)), IsLeader: rng.Intn(2) == 0}
		if v.DBQuota > 0 {
			v.DBQuotaUsage = size / v.DBQuota
		}
		if size > 0 {
			v.Fragmentation = (size - inUse) / size
		}
		return v
	}
	compared, refused := 0, 0
	for i := 0; i < 3000; i++ {
		src := boolean(1 + rng.Intn(4))
		want, err := expr.Compile(src, expr.Env(RuleVars{}), expr.AsBool())
		r, ourErr := CompileRule(src)
		if err != nil {
			// Not binds tighter than a comparison: "not 0.5 > x" is
			// ill-typed in both.
			if ourErr == nil {
				t.Fatalf("%q compiles here, expr refuses it: %v", src, err)
			}
			refused++
			continue
		}
		if ourErr != nil {
			t.Fatalf("%q: %v (expr compiles it)", src, ourErr)
		}
		for k := 0; k < 5; k++ {
			v := vars()
			out, err := expr.Run(want, v)
			if err != nil {
				continue // expr's run-time errors (none expected for these types)
			}
			got, _ := r.Eval(v)
			if got != out.(bool) {
				t.Fatalf("%q on %s: %v, expr says %v", src, v.Explain(), got, out)
			}
			compared++
		}
	}
	t.Logf("%d evaluations agree with expr; %d ill-typed rules refused by both", compared, refused)
	if compared < 5000 || refused == 0 {
		t.Fatalf("only %d evaluations compared, %d refusals: the generator is off", compared, refused)
	}
}

// Precedence and associativity, spelled out.
func TestRulePrecedence(t *testing.T) {
	v := RuleVars{DBSize: 8, DBSizeInUse: 2}
	for src, want := range map[string]bool{
		"2 ** 3 ** 2 == 512":                    true, // right-associative
		"-2 ** 2 == -4":                         true,
		"dbSize - dbSizeInUse - 1 == 5":         true, // left-associative
		"dbSize / dbSizeInUse / 2 == 2":         true,
		"true || false && false":                true,
		"!isLeader && dbSize > 1":               true,
		"not isLeader and dbSize > 100":         false,
		"dbSize > 4 ? dbSizeInUse == 2 : false": true,
		"1 + 2 * 3 == 7":                        true,
	} {
		r, err := CompileRule(src)
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if got, _ := r.Eval(v); got != want {
			t.Errorf("%q: %v, want %v", src, got, want)
		}
	}
	for _, bad := range []string{"dbSize >", "(dbSize > 1", "max(dbSize, 1) > 0", "dbSize > 1 dbSize", "isLeader + 1 > 0", "dbSize ? 1 : 2", "dbSize > 1 ? 1 : true", "'a' == 'a'", "dbSize @ 1", "1 > 'x"} {
		if _, err := CompileRule(bad); err == nil || !strings.Contains(err.Error(), "column") {
			t.Errorf("%q: %v, want an error with its column", bad, err)
		}
	}
}
