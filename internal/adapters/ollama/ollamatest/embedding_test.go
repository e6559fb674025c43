package ollamatest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
)

func TestParaphrasesLandNearEachOther(t *testing.T) {
	book := "Title: The Sorcerer's Orphan\nDescription: A boy learns spells at a boarding academy."
	other := "Title: Murder on the Night Train\nDescription: A detective and a killer share a sleeper car."
	q := ollamatest.Embed("young wizard school magic")
	near, far := ollamatest.Cosine(q, ollamatest.Embed(book)), ollamatest.Cosine(q, ollamatest.Embed(other))
	if near <= 0.5 || far >= 0.2 {
		t.Fatalf("paraphrase similarity %.3f (want > 0.5), unrelated %.3f (want < 0.2)", near, far)
	}
	a, b := ollamatest.Embed(book), ollamatest.Embed(book)
	for i := range a {
		if a[i] != b[i] {
			t.Fatal("the same text embedded twice differs")
		}
	}
	if len(a) != ollamatest.Dimension {
		t.Fatalf("dimension %d, want %d", len(a), ollamatest.Dimension)
	}
	if n := ollamatest.Cosine(a, a); n < 0.999 || n > 1.001 {
		t.Fatalf("not a unit vector: self-similarity %.4f", n)
	}
}
