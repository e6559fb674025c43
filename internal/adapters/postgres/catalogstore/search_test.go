package catalogstore

import (
	"slices"
	"testing"
)

func TestQueryTerms(t *testing.T) {
	tests := []struct {
		query    string
		words    []string
		excluded []string
		included string
	}{
		{"dragon", []string{"dragon"}, nil, "dragon"},
		{"Dragon GARDEN dragon", []string{"dragon", "garden"}, nil, "Dragon GARDEN dragon"},
		{`"silent river" or lake`, []string{"silent", "river", "lake"}, nil, "silent river or lake"},
		{"mystery -garden -old-map", []string{"mystery"}, []string{"garden", "old", "map"}, "mystery"},
		// Short words and fragments are not looked up.
		{"a of it's-hers", []string{"hers"}, nil, "a of it's-hers"},
		{"don't panic!", []string{"don", "panic"}, nil, "don't panic!"},
		// Within quotes a dash does not exclude.
		{`"-not negated"`, []string{"not", "negated"}, nil, "-not negated"},
		{"l'été à Zürich", []string{"été", "zürich"}, nil, "l'été à Zürich"},
		// tsquery operators never reach a word.
		{"x' & !y | (z) <-> 'drop table'", []string{"drop", "table"}, nil, "x' & !y | (z) <-> 'drop table'"},
		{"- -dragon", nil, []string{"dragon"}, ""},
		{"one two three four five six seven eight nine ten",
			[]string{"one", "two", "three", "four", "five", "six", "seven", "eight"}, nil,
			"one two three four five six seven eight nine ten"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			words, excluded, included := queryTerms(tt.query)
			if !slices.Equal(words, tt.words) || !slices.Equal(excluded, tt.excluded) || included != tt.included {
				t.Errorf("queryTerms(%q) = %q, %q, %q; want %q, %q, %q",
					tt.query, words, excluded, included, tt.words, tt.excluded, tt.included)
			}
		})
	}
}
