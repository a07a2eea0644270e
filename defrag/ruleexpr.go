package defrag

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
)

// The rule language: expr's syntax (https://expr-lang.org) for what a
// defrag rule needs — numbers, the rule variables, true/false, parentheses,
// unary - + ! not, ** ^ * / % + -, comparisons, && and || or, and a ? b : c,
// with expr's precedence. It is evaluated here rather than by expr itself
// because expr's reflection (reflect.Value.MethodByName) kept the linker
// from dropping any unused method anywhere in the binary: 11 MB of the
// release build.

type ruleKind int

const (
	kindNum ruleKind = iota
	kindBool
	kindString // only so that a quoted word is reported as the wrong type
)

func (k ruleKind) String() string { return [...]string{"number", "bool", "string"}[k] }

// ruleNode is a compiled sub-expression: its type and how to compute it.
type ruleNode struct {
	kind ruleKind
	num  func(*RuleVars) float64
	b    func(*RuleVars) bool
	src  string // the text it came from, for messages
}

// ruleError is a compile error at a 1-based column.
type ruleError struct {
	msg string
	col int
}

func (e *ruleError) Error() string { return fmt.Sprintf("%s at column %d", e.msg, e.col) }

type ruleToken struct {
	text string
	kind byte // 'n' number, 'i' identifier, 's' string, 'o' operator, 0 end
	pos  int  // byte offset
}

func lexRule(src string) ([]ruleToken, error) {
	var toks []ruleToken
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9':
			j := i
			for j < len(src) && (src[j] >= '0' && src[j] <= '9' || src[j] == '.' || src[j] == '_' ||
				(src[j] == 'e' || src[j] == 'E') || ((src[j] == '+' || src[j] == '-') && (src[j-1] == 'e' || src[j-1] == 'E'))) {
				j++
			}
			toks = append(toks, ruleToken{src[i:j], 'n', i})
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(src) && (src[j] == '_' || unicode.IsLetter(rune(src[j])) || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			toks = append(toks, ruleToken{src[i:j], 'i', i})
			i = j
		case c == '\'' || c == '"':
			j := strings.IndexByte(src[i+1:], c)
			if j < 0 {
				return nil, &ruleError{"unterminated string", i + 1}
			}
			toks = append(toks, ruleToken{src[i : i+j+2], 's', i})
			i += j + 2
		default:
			op := ""
			for _, o := range []string{"||", "&&", "==", "!=", "<=", ">=", "**", "<", ">", "+", "-", "*", "/", "%", "^", "!", "(", ")", "?", ":"} {
				if strings.HasPrefix(src[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				return nil, &ruleError{fmt.Sprintf("unexpected %q", c), i + 1}
			}
			toks = append(toks, ruleToken{op, 'o', i})
			i += len(op)
		}
	}
	return append(toks, ruleToken{"", 0, len(src)}), nil
}

// Binding powers, as expr's: or 10, and 15, comparisons 20, + - 30,
// * / % 60, ** ^ 100 (right-associative); unary ! not 50, - + 90.
var ruleInfix = map[string]int{
	"||": 10, "or": 10, "&&": 15, "and": 15,
	"==": 20, "!=": 20, "<": 20, "<=": 20, ">": 20, ">=": 20,
	"+": 30, "-": 30, "*": 60, "/": 60, "%": 60, "**": 100, "^": 100,
}

type ruleParser struct {
	src  string
	toks []ruleToken
	i    int
}

func (p *ruleParser) peek() ruleToken { return p.toks[p.i] }
func (p *ruleParser) next() ruleToken { t := p.toks[p.i]; p.i++; return t }

func (p *ruleParser) errAt(t ruleToken, format string, a ...any) error {
	return &ruleError{fmt.Sprintf(format, a...), t.pos + 1}
}

// compileRuleExpr parses src into a boolean function of the rule variables.
func compileRuleExpr(src string) (func(*RuleVars) bool, error) {
	toks, err := lexRule(src)
	if err != nil {
		return nil, err
	}
	p := &ruleParser{src: src, toks: toks}
	n, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != 0 {
		return nil, p.errAt(t, "unexpected token %q", t.text)
	}
	if n.kind != kindBool {
		return nil, &ruleError{fmt.Sprintf("expected bool, but the rule is a %s", n.kind), 1}
	}
	return n.b, nil
}

func (p *ruleParser) expr(minPower int) (*ruleNode, error) {
	start := p.peek()
	left, err := p.prefix()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind == 0 {
			return left, nil
		}
		if t.text == "?" && minPower == 0 {
			if left, err = p.ternary(left, start); err != nil {
				return nil, err
			}
			continue
		}
		power, ok := ruleInfix[t.text]
		if !ok || (t.kind != 'o' && t.text != "or" && t.text != "and") || power <= minPower {
			return left, nil
		}
		p.next()
		rightPower := power
		if power == 100 {
			rightPower = power - 1 // right-associative
		}
		right, err := p.expr(rightPower)
		if err != nil {
			return nil, err
		}
		if left, err = p.binary(t, left, right, start); err != nil {
			return nil, err
		}
	}
}

func (p *ruleParser) ternary(cond *ruleNode, start ruleToken) (*ruleNode, error) {
	q := p.next()
	if cond.kind != kindBool {
		return nil, p.errAt(q, "invalid operation: the condition before ? is a %s, not a bool", cond.kind)
	}
	a, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if t := p.next(); t.text != ":" {
		return nil, p.errAt(t, "expected : in a ? b : c")
	}
	b, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if a.kind != b.kind || a.kind == kindString {
		return nil, p.errAt(q, "invalid operation: the two sides of ?: are a %s and a %s", a.kind, b.kind)
	}
	c := cond.b
	n := &ruleNode{kind: a.kind, src: p.text(start)}
	if a.kind == kindNum {
		n.num = func(v *RuleVars) float64 {
			if c(v) {
				return a.num(v)
			}
			return b.num(v)
		}
	} else {
		n.b = func(v *RuleVars) bool {
			if c(v) {
				return a.b(v)
			}
			return b.b(v)
		}
	}
	return n, nil
}

// text is the source from a token to the current position.
func (p *ruleParser) text(from ruleToken) string {
	return strings.TrimSpace(p.src[from.pos:p.peek().pos])
}

func (p *ruleParser) prefix() (*ruleNode, error) {
	t := p.next()
	switch {
	case t.kind == 0:
		return nil, p.errAt(t, "unexpected end of the rule")
	case t.kind == 'n':
		f, err := strconv.ParseFloat(strings.ReplaceAll(t.text, "_", ""), 64)
		if err != nil {
			return nil, p.errAt(t, "bad number %q", t.text)
		}
		return &ruleNode{kind: kindNum, num: func(*RuleVars) float64 { return f }, src: t.text}, nil
	case t.kind == 's':
		return &ruleNode{kind: kindString, src: t.text}, nil
	case t.text == "(":
		n, err := p.expr(0)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.text != ")" {
			return nil, p.errAt(c, "expected )")
		}
		return n, nil
	case t.text == "!" || t.text == "not":
		n, err := p.expr(50)
		if err != nil {
			return nil, err
		}
		if n.kind != kindBool {
			return nil, p.errAt(t, "invalid operation: %s %s (a %s, not a bool)", t.text, n.src, n.kind)
		}
		b := n.b
		return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return !b(v) }, src: t.text + n.src}, nil
	case t.text == "-" || t.text == "+":
		n, err := p.expr(90)
		if err != nil {
			return nil, err
		}
		if n.kind != kindNum {
			return nil, p.errAt(t, "invalid operation: %s%s (a %s, not a number)", t.text, n.src, n.kind)
		}
		f := n.num
		if t.text == "+" {
			return n, nil
		}
		return &ruleNode{kind: kindNum, num: func(v *RuleVars) float64 { return -f(v) }, src: "-" + n.src}, nil
	case t.kind == 'i':
		return p.ident(t)
	}
	return nil, p.errAt(t, "unexpected token %q", t.text)
}

func (p *ruleParser) ident(t ruleToken) (*ruleNode, error) {
	num := func(f func(*RuleVars) float64) (*ruleNode, error) {
		return &ruleNode{kind: kindNum, num: f, src: t.text}, nil
	}
	boolean := func(f func(*RuleVars) bool) (*ruleNode, error) {
		return &ruleNode{kind: kindBool, b: f, src: t.text}, nil
	}
	switch t.text {
	case "true", "false":
		b := t.text == "true"
		return boolean(func(*RuleVars) bool { return b })
	case "dbSize":
		return num(func(v *RuleVars) float64 { return v.DBSize })
	case "dbSizeInUse":
		return num(func(v *RuleVars) float64 { return v.DBSizeInUse })
	case "dbSizeFree":
		return num(func(v *RuleVars) float64 { return v.DBSizeFree })
	case "dbQuota":
		return num(func(v *RuleVars) float64 { return v.DBQuota })
	case "dbQuotaUsage":
		return num(func(v *RuleVars) float64 { return v.DBQuotaUsage })
	case "fragmentation":
		return num(func(v *RuleVars) float64 { return v.Fragmentation })
	case "isLeader":
		return boolean(func(v *RuleVars) bool { return v.IsLeader })
	}
	if p.peek().text == "(" {
		return nil, p.errAt(t, "unknown function %s (a rule has no functions)", t.text)
	}
	return nil, p.errAt(t, "unknown name %s", t.text)
}

func (p *ruleParser) binary(op ruleToken, l, r *ruleNode, start ruleToken) (*ruleNode, error) {
	src := p.text(start)
	mismatch := func() error {
		return p.errAt(op, "invalid operation: %s (mismatched types %s and %s)", src, l.kind, r.kind)
	}
	switch op.text {
	case "||", "or", "&&", "and":
		if l.kind != kindBool || r.kind != kindBool {
			return nil, mismatch()
		}
		a, b := l.b, r.b
		if op.text == "||" || op.text == "or" {
			return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return a(v) || b(v) }, src: src}, nil
		}
		return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return a(v) && b(v) }, src: src}, nil
	case "==", "!=":
		if l.kind != r.kind || l.kind == kindString {
			return nil, mismatch()
		}
		eq := op.text == "=="
		if l.kind == kindBool {
			a, b := l.b, r.b
			return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return (a(v) == b(v)) == eq }, src: src}, nil
		}
		a, b := l.num, r.num
		return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return (a(v) == b(v)) == eq }, src: src}, nil
	}
	if l.kind != kindNum || r.kind != kindNum {
		return nil, mismatch()
	}
	a, b := l.num, r.num
	var cmp func(x, y float64) bool
	switch op.text {
	case "<":
		cmp = func(x, y float64) bool { return x < y }
	case "<=":
		cmp = func(x, y float64) bool { return x <= y }
	case ">":
		cmp = func(x, y float64) bool { return x > y }
	case ">=":
		cmp = func(x, y float64) bool { return x >= y }
	}
	if cmp != nil {
		return &ruleNode{kind: kindBool, b: func(v *RuleVars) bool { return cmp(a(v), b(v)) }, src: src}, nil
	}
	var f func(x, y float64) float64
	switch op.text {
	case "+":
		f = func(x, y float64) float64 { return x + y }
	case "-":
		f = func(x, y float64) float64 { return x - y }
	case "*":
		f = func(x, y float64) float64 { return x * y }
	case "/":
		f = func(x, y float64) float64 { return x / y }
	case "%":
		f = math.Mod
	case "**", "^":
		f = math.Pow
	}
	return &ruleNode{kind: kindNum, num: func(v *RuleVars) float64 { return f(a(v), b(v)) }, src: src}, nil
}
