package kernels

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

func TestLikeMatch(t *testing.T) {
	cases := []struct {
		pat  string
		kind likeKind
		yes  []string
		no   []string
	}{
		{"abc", likeExact, []string{"abc"}, []string{"abcd", "ab", ""}},
		{"ab%", likePrefix, []string{"ab", "abc", "ab%"}, []string{"a", "xab"}},
		{"%ab", likeSuffix, []string{"ab", "xxab"}, []string{"abx", "a"}},
		{"%ab%", likeContains, []string{"ab", "xaby", "ab"}, []string{"a b", ""}},
		{"%%ab%%", likeContains, []string{"xaby"}, []string{"ba"}},
		{"%", likePrefix, []string{"", "anything"}, nil},
		{"%Customer%Complaints%", likeChain, []string{"Customer Complaints", "xxCustomerxxComplaintsxx", "CustomerComplaints"}, []string{"Complaints Customer", "Customer Complaint"}},
		{"a%b%c", likeChain, []string{"abc", "aXbYc", "abbc", "acbc"}, []string{"ab", "acb", "abcd", "bac"}},
		{"ab%ba", likeChain, []string{"abba", "ab-ba"}, []string{"aba"}},
		{"_", likeGeneral, []string{"a", "é"}, []string{"", "ab"}},
		{"a_c", likeGeneral, []string{"abc", "aéc"}, []string{"ac", "abbc"}},
		{"%a_c%", likeGeneral, []string{"xxabcxx", "aac", "aaac"}, []string{"ac", "abbc"}},
		{"_%_", likeGeneral, []string{"ab", "abc"}, []string{"a", ""}},
		{`100\%`, likeExact, []string{"100%"}, []string{"1000", "100"}},
		{`a\_b%`, likePrefix, []string{"a_b", "a_bc"}, []string{"axb"}},
		{`%\\%`, likeContains, []string{`a\b`}, []string{"ab"}},
		{`\a\b`, likeExact, []string{"ab"}, []string{`\a\b`}},
	}
	for _, tc := range cases {
		m, err := compileLike(tc.pat)
		if err != nil {
			t.Fatalf("%q: %v", tc.pat, err)
		}
		if m.kind != tc.kind {
			t.Errorf("%q: kind %d, want %d", tc.pat, m.kind, tc.kind)
		}
		for _, s := range tc.yes {
			if !m.match(s) {
				t.Errorf("%q should match %q", tc.pat, s)
			}
		}
		for _, s := range tc.no {
			if m.match(s) {
				t.Errorf("%q should not match %q", tc.pat, s)
			}
		}
	}
	if _, err := compileLike(`abc\`); err == nil || err.Error() != "LIKE pattern must not end with escape character" {
		t.Fatalf("trailing escape: %v", err)
	}
}

// TestLikeRandom compares the classified matchers with a regexp translation.
func TestLikeRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	alpha := []string{"a", "b", "%", "_", "é"}
	for i := 0; i < 3000; i++ {
		var p strings.Builder
		for j := rng.Intn(6); j >= 0; j-- {
			p.WriteString(alpha[rng.Intn(len(alpha))])
		}
		pat := p.String()
		var re strings.Builder
		re.WriteString("^(?s:")
		for _, r := range pat {
			switch r {
			case '%':
				re.WriteString(".*")
			case '_':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString(")$")
		want := regexp.MustCompile(re.String())
		m, err := compileLike(pat)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 20; k++ {
			var s strings.Builder
			for j := rng.Intn(7); j > 0; j-- {
				s.WriteString([]string{"a", "b", "é"}[rng.Intn(3)])
			}
			if got := m.match(s.String()); got != want.MatchString(s.String()) {
				t.Fatalf("%q LIKE %q = %v, want %v", s.String(), pat, got, !got)
			}
		}
	}
}

func TestLikeKernels(t *testing.T) {
	S := TString
	cases := []kcase{
		{"like prefix", "like", []col{c(S, "PROMO BRUSHED", "STANDARD", nil), c(S, "PROMO%")}, "true,false,NULL"},
		{"like contains", "like", []col{c(S, "forest green", "red"), c(S, "%green%")}, "true,false"},
		{"like chain", "like", []col{c(S, "a Customer has Complaints", "Complaints of Customer"), c(S, "%Customer%Complaints%")}, "true,false"},
		{"like escape", "like", []col{c(S, "50%", "500"), c(S, `50\%`)}, "true,false"},
		{"like bad escape", "like", []col{c(S, "x"), c(S, `x\`)}, "error: must not end with escape"},
		{"like per row", "like", []col{c(S, "abc", "abc", "abc", "xyz"), c(S, "a%", "a%", "%z", nil)}, "true,true,false,NULL"},
		{"like const value", "like", []col{c(S, "abc"), c(S, "a%", "_bc", "b%")}, "true,true,false"},
		{"like null pattern", "like", []col{c(S, "abc", "d"), c(S, nil)}, "NULL,NULL"},
		{"not like", "not_like", []col{c(S, "PROMO X", "Y", nil), c(S, "PROMO%")}, "false,true,NULL"},
		{"not like contains", "not_like", []col{c(S, "ab", "cd"), c(S, "%b%")}, "false,true"},
		{"ilike", "ilike", []col{c(S, "Hello World", "HELLO", "help"), c(S, "hello%")}, "true,true,false"},
		{"ilike unicode", "ilike", []col{c(S, "ÉCOLE", "école", "ecole"), c(S, "éco%")}, "true,true,false"},
		{"ilike kelvin", "ilike", []col{c(S, "\u212a", "k"), c(S, "K")}, "true,true"},
		{"not ilike", "not_ilike", []col{c(S, "ABC", "xyz"), c(S, "%b%")}, "false,true"},
		{"ilike per row", "ilike", []col{c(S, "ABC", "abc"), c(S, "a_C", "%X")}, "true,false"},
	}
	runCases(t, cases)
}
