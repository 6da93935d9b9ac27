package harness

import (
	"strings"
	"unicode"
)

// SplitStatements splits a SQL script on semicolons that are outside
// string literals, quoted identifiers and comments. Empty statements (and
// statements made only of comments) are dropped. The returned statements
// keep their comments but not the trailing semicolon.
func SplitStatements(script string) []string {
	var out []string
	start := 0
	i := 0
	n := len(script)
	flush := func(end int) {
		stmt := strings.TrimSpace(script[start:end])
		if strings.TrimSpace(stripComments(stmt)) != "" {
			out = append(out, stmt)
		}
	}
	for i < n {
		c := script[i]
		switch {
		case c == '\'' || c == '"':
			// Quoted literal/identifier; doubled quote is an escape.
			i++
			for i < n {
				if script[i] == c {
					if i+1 < n && script[i+1] == c {
						i += 2
						continue
					}
					break
				}
				i++
			}
			i++
		case c == '-' && i+1 < n && script[i+1] == '-':
			for i < n && script[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && script[i+1] == '*':
			i += 2
			for i < n && !(script[i] == '*' && i+1 < n && script[i+1] == '/') {
				i++
			}
			i += 2
		case c == ';':
			flush(i)
			i++
			start = i
		default:
			i++
		}
	}
	if start < n {
		flush(n)
	}
	return out
}

// stripComments removes -- and /* */ comments (outside quotes).
func stripComments(s string) string {
	var b strings.Builder
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < n {
				if s[j] == c {
					if j+1 < n && s[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j < n {
				j++
			}
			b.WriteString(s[i:j])
			i = j
		case c == '-' && i+1 < n && s[i+1] == '-':
			for i < n && s[i] != '\n' {
				i++
			}
			b.WriteByte(' ')
		case c == '/' && i+1 < n && s[i+1] == '*':
			i += 2
			for i < n && !(s[i] == '*' && i+1 < n && s[i+1] == '/') {
				i++
			}
			i += 2
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// ReturnsRows reports whether a statement is a query (SELECT, WITH,
// VALUES, TABLE, FROM, SHOW, DESCRIBE, EXPLAIN, possibly parenthesised)
// rather than a command such as CREATE VIEW, DROP VIEW or SET.
func ReturnsRows(stmt string) bool {
	s := strings.TrimLeftFunc(stripComments(stmt), func(r rune) bool {
		return unicode.IsSpace(r) || r == '('
	})
	end := strings.IndexFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
	if end < 0 {
		end = len(s)
	}
	switch strings.ToLower(s[:end]) {
	case "select", "with", "values", "table", "from", "show", "describe", "explain", "summarize":
		return true
	}
	return false
}
