package catalogstore

import (
	"errors"
	"strconv"
)

// The text forms of tsvector and tsquery, as Postgres prints them, read
// back in Go for the search index (index.go): Postgres stems and weighs the
// words (to_tsvector, websearch_to_tsquery), the index only matches and
// ranks what Postgres made, so the two can never disagree on what a word is.

// errTSText is a text the readers do not understand: the index leaves such
// a search to Postgres.
var errTSText = errors.New("catalog: unsupported text-search text")

// tsLexeme is one word of a tsvector: its positions (1..16383) and, per
// position, its weight class (0 = D .. 3 = A).
type tsLexeme struct {
	word      string
	positions []uint16
	weights   []uint8
}

// best is the highest weight class of the lexeme's positions.
func (l tsLexeme) best() uint8 {
	var b uint8
	for _, w := range l.weights {
		b = max(b, w)
	}
	return b
}

// readQuoted reads a quoted lexeme at s[i] == '\” and returns it and the
// index after the closing quote. Postgres doubles a quote inside a lexeme
// and escapes a backslash with a backslash.
func readQuoted(s string, i int) (string, int, error) {
	if i >= len(s) || s[i] != '\'' {
		return "", 0, errTSText
	}
	var out []byte
	for i++; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			out = append(out, s[i])
		case c == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
			out = append(out, '\'')
		case c == '\'':
			return string(out), i + 1, nil
		default:
			out = append(out, c)
		}
	}
	return "", 0, errTSText
}

// parseTSVector reads a tsvector's text: 'word':1A,5 'other':3B ...
// A lexeme without positions (a stripped vector) gets none.
func parseTSVector(s string) ([]tsLexeme, error) {
	var out []tsLexeme
	i := 0
	for {
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) {
			return out, nil
		}
		word, j, err := readQuoted(s, i)
		if err != nil {
			return nil, err
		}
		i = j
		lx := tsLexeme{word: word}
		if i < len(s) && s[i] == ':' {
			for {
				i++
				k := i
				for i < len(s) && s[i] >= '0' && s[i] <= '9' {
					i++
				}
				p, err := strconv.Atoi(s[k:i])
				if err != nil || p < 1 || p > 16383 {
					return nil, errTSText
				}
				var w uint8
				if i < len(s) && s[i] >= 'A' && s[i] <= 'D' {
					w = 'D' - s[i]
					i++
				}
				lx.positions = append(lx.positions, uint16(p))
				lx.weights = append(lx.weights, w)
				if i == len(s) || s[i] != ',' {
					break
				}
			}
		}
		if i < len(s) && s[i] != ' ' {
			return nil, errTSText
		}
		out = append(out, lx)
	}
}

// tsNode is a node of a tsquery: a lexeme (op 0), or an operator on its
// operands: '!' (one), '&', '|', or '<' (phrase: right follows left at
// distance dist).
type tsNode struct {
	op          byte
	word        string
	dist        int
	left, right *tsNode
}

// maxTSNodes bounds a query's size: websearch_to_tsquery of a long text
// makes a long query, and the index evaluates each node over every book.
const maxTSNodes = 64

// parseTSQuery reads a tsquery's text as Postgres prints it. The empty
// text (a query of stop words only) is a nil node. Prefix matches (:*) and
// weight restrictions (:AB), which websearch_to_tsquery never makes, are
// refused.
func parseTSQuery(s string) (*tsNode, error) {
	p := tsParser{s: s}
	p.space()
	if p.i == len(s) {
		return nil, nil
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(s) {
		return nil, errTSText
	}
	return n, nil
}

type tsParser struct {
	s     string
	i     int
	nodes int
}

func (p *tsParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *tsParser) node(n tsNode) (*tsNode, error) {
	if p.nodes++; p.nodes > maxTSNodes {
		return nil, errTSText
	}
	return &n, nil
}

// Precedence, loosest first: | then & then <N> then !.
func (p *tsParser) or() (*tsNode, error) {
	l, err := p.and()
	for err == nil {
		if p.space(); p.i == len(p.s) || p.s[p.i] != '|' {
			return l, nil
		}
		p.i++
		var r *tsNode
		if r, err = p.and(); err == nil {
			l, err = p.node(tsNode{op: '|', left: l, right: r})
		}
	}
	return nil, err
}

func (p *tsParser) and() (*tsNode, error) {
	l, err := p.phrase()
	for err == nil {
		if p.space(); p.i == len(p.s) || p.s[p.i] != '&' {
			return l, nil
		}
		p.i++
		var r *tsNode
		if r, err = p.phrase(); err == nil {
			l, err = p.node(tsNode{op: '&', left: l, right: r})
		}
	}
	return nil, err
}

func (p *tsParser) phrase() (*tsNode, error) {
	l, err := p.unary()
	for err == nil {
		if p.space(); p.i == len(p.s) || p.s[p.i] != '<' {
			return l, nil
		}
		dist := 1
		switch {
		case len(p.s) >= p.i+3 && p.s[p.i:p.i+3] == "<->":
			p.i += 3
		default:
			k := p.i + 1
			for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
				k++
			}
			if k == len(p.s) || p.s[k] != '>' {
				return nil, errTSText
			}
			if dist, err = strconv.Atoi(p.s[p.i+1 : k]); err != nil || dist > 16384 {
				return nil, errTSText
			}
			p.i = k + 1
		}
		var r *tsNode
		if r, err = p.unary(); err == nil {
			l, err = p.node(tsNode{op: '<', dist: dist, left: l, right: r})
		}
	}
	return nil, err
}

func (p *tsParser) unary() (*tsNode, error) {
	p.space()
	if p.i == len(p.s) {
		return nil, errTSText
	}
	switch p.s[p.i] {
	case '!':
		p.i++
		n, err := p.unary()
		if err != nil {
			return nil, err
		}
		return p.node(tsNode{op: '!', left: n})
	case '(':
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.space(); p.i == len(p.s) || p.s[p.i] != ')' {
			return nil, errTSText
		}
		p.i++
		return n, nil
	}
	word, j, err := readQuoted(p.s, p.i)
	if err != nil {
		return nil, err
	}
	if p.i = j; p.i < len(p.s) && p.s[p.i] == ':' {
		return nil, errTSText // prefix or weight restriction
	}
	return p.node(tsNode{word: word})
}

// positives appends the lexemes of n that are not under a negation, each
// once, in the order they appear: what a match is ranked by.
func (n *tsNode) positives(out []string) []string {
	if n == nil {
		return out
	}
	switch n.op {
	case 0:
		for _, w := range out {
			if w == n.word {
				return out
			}
		}
		return append(out, n.word)
	case '!':
		return out
	}
	return n.right.positives(n.left.positives(out))
}
