package ollamatest

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Dimension is the length of the double's embeddings.
const Dimension = 64

// concepts maps words to shared dimensions: words of one group mean the same
// thing here, so "sorcerer" and "wizard" land on one axis and a paraphrase
// that shares no word with a text still lands near it. Words outside the
// table are hashed onto the remaining dimensions.
var concepts = [][]string{
	{"wizard", "sorcerer", "magic", "magical", "mage", "witch", "spell", "enchantment", "warlock"},
	{"space", "galaxy", "star", "planet", "interstellar", "cosmos", "astronaut", "spaceship", "orbit"},
	{"detective", "murder", "crime", "mystery", "investigation", "sleuth", "killer", "whodunit", "investigator"},
	{"love", "romance", "romantic", "passion", "heart", "lover", "courtship"},
	{"war", "battle", "soldier", "army", "combat", "warfare", "military", "troop"},
	{"cook", "cooking", "recipe", "kitchen", "cuisine", "chef", "food", "dish", "baking"},
	{"ocean", "sea", "sailor", "ship", "voyage", "maritime", "nautical", "seafaring"},
	{"dragon", "wyrm", "drake"},
	{"child", "kid", "young", "boy", "girl", "youth", "teen", "teenager", "orphan"},
	{"history", "historical", "ancient", "past", "antiquity", "medieval"},
	{"computer", "programming", "software", "code", "algorithm", "coding", "programmer"},
	{"garden", "gardening", "plant", "flower", "horticulture", "botanical"},
	{"ghost", "haunted", "horror", "spirit", "phantom", "terror", "spooky"},
	{"robot", "android", "machine", "automaton", "ai"},
	{"school", "academy", "student", "pupil", "classroom", "boarding"},
	{"money", "finance", "investing", "wealth", "economics", "investment"},
}

// stopwords carry no meaning here; the labels of catalog.EmbeddingText are
// among them so that every book's text does not share a component.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the of and or in on at to for with from by about as into is are was were be
		who whom that this these those it its his her their he she they them i we you my our your what which
		title authors author category description book books novel story`) {
		stopwords[w] = true
	}
}

var conceptOf = func() map[string]int {
	m := map[string]int{}
	for i, g := range concepts {
		for _, w := range g {
			m[w] = i
		}
	}
	return m
}()

// Embed returns the double's embedding of text: a unit vector of Dimension
// floats, the same for the same text on every run. A text of stopwords only
// gets a fixed unit vector.
func Embed(text string) []float32 {
	v := make([]float64, Dimension)
	for _, w := range Words(text) {
		if i, ok := conceptOf[w]; ok {
			v[i] += 2 // meaning weighs more than spelling
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		v[len(concepts)+int(h.Sum32()%uint32(Dimension-len(concepts)))]++
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, Dimension)
	if norm == 0 {
		out[Dimension-1] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// Words returns the meaningful words of text: lower case, split at anything
// but letters and digits, stopwords dropped, a plural "s" taken off words the
// concept table knows in the singular.
func Words(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if stopwords[w] {
			continue
		}
		if _, ok := conceptOf[w]; !ok && len(w) > 3 && strings.HasSuffix(w, "s") {
			if _, ok := conceptOf[w[:len(w)-1]]; ok {
				w = w[:len(w)-1]
			}
		}
		out = append(out, w)
	}
	return out
}

// Cosine returns the cosine similarity of two vectors of one length.
func Cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	if na == 0 || nb == 0 {
		return 0
	}
	return dot / math.Sqrt(na*nb)
}
