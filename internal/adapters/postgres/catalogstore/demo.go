package catalogstore

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// DemoData is a demo catalog: entities first, then the books that refer to
// them. Every record passed the same constructors client input goes through.
type DemoData struct {
	Categories []*catalog.Entity
	Publishers []*catalog.Entity
	Authors    []*catalog.Entity
	Books      []*catalog.Book
}

// demoEpoch is when the demo catalog "was created"; every id and timestamp
// derives from it, so the same catalog comes out on every machine.
var demoEpoch = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)

// Seeds of the PCG streams, one per kind of record, so adding a kind or
// changing one never shifts another.
const (
	demoSeedCategory  = 0x62_6f_6f_6b_01
	demoSeedPublisher = 0x62_6f_6f_6b_02
	demoSeedAuthor    = 0x62_6f_6f_6b_03
	demoSeedBook      = 0x62_6f_6f_6b_04
)

// DemoAuthorCount is how many authors a demo catalog of n books has: one per
// five books, at least 40.
func DemoAuthorCount(books int) int { return max(40, (books+4)/5) }

// DemoCatalog returns a deterministic demo catalog with the given number of
// books. Catalogs nest: the first n books, and the authors they use, are the
// same in every catalog of n or more books, so loading a bigger catalog over a
// smaller one only adds. Every record passes the core's rules; it panics if
// one does not, which is a bug in this file.
func DemoCatalog(books int) DemoData {
	books = max(books, 0)
	var d DemoData
	for i, c := range demoCategories {
		d.Categories = append(d.Categories, mustEntity(catalog.CategoryKind, demoID(demoSeedCategory, i, demoEpoch),
			catalog.EntityFields{Name: c.name, Text: c.text}, demoEpoch))
	}
	for i, name := range demoPublishers {
		d.Publishers = append(d.Publishers, mustEntity(catalog.PublisherKind, demoID(demoSeedPublisher, i, demoEpoch),
			catalog.EntityFields{Name: name}, demoEpoch))
	}
	for i := range DemoAuthorCount(books) {
		at := demoEpoch.Add(time.Duration(i) * time.Second)
		d.Authors = append(d.Authors, mustEntity(catalog.AuthorKind, demoID(demoSeedAuthor, i, at), demoAuthor(i), at))
	}
	for i := range books {
		d.Books = append(d.Books, demoBook(i, d))
	}
	return d
}

func mustEntity(k catalog.Kind, id string, f catalog.EntityFields, at time.Time) *catalog.Entity {
	e, err := catalog.NewEntity(k, id, f, at)
	if err != nil {
		panic(fmt.Sprintf("demo %s %q: %v", k.Name, f.Name, err))
	}
	return e
}

// demoRand returns the random stream of record i of a kind.
func demoRand(seed uint64, i int) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(i))) }

// demoID returns a UUIDv7 for record i of a kind: its timestamp is at, its
// random bits come from the record's own stream.
func demoID(seed uint64, i int, at time.Time) string {
	r := demoRand(seed^0x9e3779b97f4a7c15, i)
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], r.Uint64())
	binary.BigEndian.PutUint16(u[6:], uint16(r.Uint32()))
	ms := uint64(at.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}

func demoAuthor(i int) catalog.EntityFields {
	first := demoFirstNames[i%len(demoFirstNames)]
	// Both lists have 40 names, and i -> (i%40, (7i + i/40)%40) is one to
	// one below 1600, so names repeat only with the middle initial added.
	last := demoLastNames[(7*i+i/len(demoFirstNames))%len(demoLastNames)]
	name := first + " " + last
	if round := i / (len(demoFirstNames) * len(demoLastNames)); round > 0 {
		name = first + " " + string(rune('A'+(round-1)%26)) + ". " + last
	}
	r := demoRand(demoSeedAuthor, i)
	bio := fmt.Sprintf("%s was born in %s and writes about %s. %s",
		name, pick(r, demoPlaces), pick(r, demoSubjects), pick(r, demoBioEndings))
	return catalog.EntityFields{Name: name, Text: bio}
}

func demoBook(i int, d DemoData) *catalog.Book {
	r := demoRand(demoSeedBook, i)
	at := demoEpoch.Add(time.Duration(i) * time.Minute)

	// Book i only uses authors every catalog of more than i books has.
	pool := DemoAuthorCount(i + 1)
	n := 1
	switch x := r.IntN(10); {
	case x >= 9:
		n = 3
	case x >= 7:
		n = 2
	}
	picked := make([]int, 0, n)
	for len(picked) < n {
		if k := r.IntN(pool); !slices.Contains(picked, k) {
			picked = append(picked, k)
		}
	}
	authorIDs := make([]string, n)
	for j, k := range picked {
		authorIDs[j] = d.Authors[k].Record().ID
	}

	// Prices end in .99 or .49, between 4.99 and 59.99.
	cents := int64(99)
	if r.IntN(3) == 0 {
		cents = 49
	}
	price := int64(4+r.IntN(56))*100 + cents
	if price < 499 {
		price = 499
	}
	fields := catalog.BookFields{
		Title:         demoTitle(r),
		Description:   demoDescription(r),
		ISBN:          demoISBN(i),
		Price:         mustEUR(price),
		StockQuantity: int32(1 + r.IntN(200)),
		CategoryID:    d.Categories[r.IntN(len(d.Categories))].Record().ID,
		PublisherID:   d.Publishers[r.IntN(len(d.Publishers))].Record().ID,
		AuthorIDs:     authorIDs,
	}
	if r.IntN(5) == 0 {
		// 10% to 40% off, rounded down to end in 9.
		sale := price * int64(60+r.IntN(31)) / 100
		sale = sale/10*10 - 1
		if sale > 0 && sale < price {
			fields.SalePrice = mustEUR(sale)
		}
	}
	if r.IntN(10) == 0 {
		fields.StockQuantity = 0
	}
	fields.ImageURL = "https://images.bookworm.example/covers/" + fields.ISBN + ".jpg"
	b, err := catalog.NewBook(demoID(demoSeedBook, i, at), fields, at)
	if err != nil {
		panic(fmt.Sprintf("demo book %d: %v", i, err))
	}
	return b
}

func mustEUR(minor int64) money.Money {
	m, err := money.New("EUR", minor)
	if err != nil {
		panic(err)
	}
	return m
}

// demoISBN returns a distinct ISBN-13 for every i below a billion:
// multiplying by a number coprime to 10^9 permutes the nine digits after the
// 978 prefix, so neighbours do not look sequential.
func demoISBN(i int) string {
	body := (uint64(i)*7919 + 104729) % 1_000_000_000
	s := fmt.Sprintf("978%09d", body)
	sum := 0
	for k := range 12 {
		n := int(s[k] - '0')
		if k%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

func pick(r *rand.Rand, words []string) string { return words[r.IntN(len(words))] }

func demoTitle(r *rand.Rand) string {
	adj, noun, noun2, place := pick(r, demoAdjectives), pick(r, demoNouns), pick(r, demoNouns), pick(r, demoPlaces)
	switch r.IntN(9) {
	case 0:
		return "The " + adj + " " + noun
	case 1:
		return "The " + noun + " of " + place
	case 2:
		return "A History of the " + noun
	case 3:
		return adj + " " + noun + "s"
	case 4:
		return "The " + noun + " and the " + noun2
	case 5:
		return "Return to " + place
	case 6:
		return "The " + noun + "'s " + pick(r, demoSecrets)
	case 7:
		return "Under the " + adj + " " + noun
	default:
		return article(adj) + " " + adj + " " + noun + " in " + place
	}
}

func demoDescription(r *rand.Rand) string {
	tone := pick(r, demoTones)
	s := fmt.Sprintf("%s %s %s about %s in %s.", article(tone), tone, pick(r, demoForms), pick(r, demoSubjects), pick(r, demoPlaces))
	if r.IntN(3) > 0 {
		s += " " + pick(r, demoSecondSentences)
	}
	return strings.TrimSpace(s)
}

var demoCategories = []struct{ name, text string }{
	{"Fantasy", "Magic, quests and other worlds."},
	{"Science Fiction", "Futures, space and the consequences of invention."},
	{"Mystery", "Crimes, clues and the detectives who follow them."},
	{"Thriller", "High stakes and no time to lose."},
	{"Romance", "Love stories, happy endings guaranteed."},
	{"Historical Fiction", "Novels set in the past, researched with care."},
	{"Biography", "True lives, told in full."},
	{"History", "How we got here, from antiquity to yesterday."},
	{"Popular Science", "Big ideas explained for curious readers."},
	{"Poetry", "Verse old and new."},
	{"Children's Books", "Stories for young readers and those who read to them."},
	{"Cooking", "Recipes, techniques and food writing."},
	{"Travel", "Guides and journeys to near and far places."},
}

var demoPublishers = []string{
	"Harbor Lane Press", "Northwind Books", "Blue Heron Publishing", "Quill & Lantern", "Stonebridge House",
	"Meridian Editions", "Copperleaf Press", "Old Mill Books", "Silver Birch Publishing", "Red Kite Editions",
	"Foxglove Press", "Westgate & Sons", "Little Acorn Books", "Tidewater House", "Granite Peak Press",
	"Wildflower Editions", "Iron Gate Publishing", "Amberline Books", "Kestrel Press", "Lighthouse Editions",
}

var demoFirstNames = []string{
	"Ada", "Alan", "Amara", "Anton", "Beatrice", "Carlos", "Chiara", "Daniel", "Elena", "Emil",
	"Farah", "Felix", "Greta", "Hana", "Hugo", "Ines", "Isaac", "Jonas", "Julia", "Kenji",
	"Lena", "Lucas", "Maya", "Marek", "Nadia", "Nils", "Olivia", "Omar", "Paula", "Rafael",
	"Rosa", "Samuel", "Sofia", "Tomas", "Ursula", "Victor", "Wanda", "Yusuf", "Zara", "Leo",
}

var demoLastNames = []string{
	"Abbott", "Bergman", "Castillo", "Delacroix", "Eriksen", "Fontaine", "Gallagher", "Hoffmann", "Ivanova", "Jansen",
	"Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Santos", "Tanaka",
	"Underwood", "Valdez", "Whitfield", "Yilmaz", "Zimmermann", "Ashford", "Blackwood", "Carver", "Dunmore", "Everly",
	"Fairbanks", "Greenleaf", "Hartley", "Ingram", "Kingsley", "Lockhart", "Merriweather", "Northcott", "Pemberton", "Ravenscroft",
}

var demoAdjectives = []string{
	"Silent", "Hidden", "Last", "Crimson", "Forgotten", "Golden", "Broken", "Secret", "Midnight", "Distant",
	"Burning", "Frozen", "Wandering", "Lost", "Quiet", "Shattered", "Endless", "Wild", "Ancient", "Electric",
	"Little", "Northern", "Drowned", "Iron", "Paper", "Glass", "Velvet", "Hollow", "Bright", "Winter",
}

var demoNouns = []string{
	"Dragon", "Garden", "Empire", "River", "Clockmaker", "Lighthouse", "Orchard", "Library", "Kingdom", "Voyage",
	"Mountain", "Cartographer", "Station", "Harbor", "Forest", "Machine", "Island", "Crown", "Letter", "Detective",
	"Bakery", "Comet", "Astronomer", "Wolf", "Archive", "Violin", "Atlas", "Storm", "Lantern", "Engine",
	"Glacier", "Alchemist", "Theatre", "Cathedral", "Compass", "Mirror", "Spy", "Apothecary", "Telescope", "Mapmaker",
}

var demoPlaces = []string{
	"Lisbon", "Kyoto", "the North Sea", "Venice", "Patagonia", "Samarkand", "Prague", "the Highlands", "Marrakesh", "Oslo",
	"Alexandria", "the Andes", "Havana", "Istanbul", "Tasmania", "the Sahara", "Reykjavik", "Vienna", "Zanzibar", "Montreal",
}

var demoSecrets = []string{"Secret", "Daughter", "Promise", "Apprentice", "Last Journey", "Diary", "Revenge", "Inheritance"}

var demoTones = []string{"gripping", "tender", "witty", "haunting", "sweeping", "thoughtful", "playful", "dark", "luminous", "brisk"}

var demoForms = []string{"novel", "story", "history", "memoir", "chronicle", "adventure", "study", "tale", "portrait", "mystery"}

var demoSubjects = []string{
	"a family of gardeners", "the last dragon", "two rival astronomers", "a lost map", "the history of printing",
	"a stolen painting", "the first voyage around the world", "an unlikely friendship", "a city under siege",
	"a cook who remembers everything", "the rise and fall of an empire", "a detective with no memory",
	"the science of sleep", "a lighthouse keeper", "a forgotten war", "the secret life of trees",
	"a travelling circus", "an inheritance nobody wanted", "the invention of the clock", "a winter without end",
}

var demoSecondSentences = []string{
	"Nothing is quite what it seems.",
	"It was shortlisted for several prizes.",
	"Readers call it impossible to put down.",
	"A book about courage, loss and second chances.",
	"Richly illustrated and carefully researched.",
	"The author's most personal book so far.",
	"Funny, wise and surprisingly moving.",
	"Now in a new edition with a foreword by the author.",
}

var demoBioEndings = []string{
	"Their books have been translated into many languages.",
	"They live by the sea with two cats.",
	"They taught history before turning to writing.",
	"This is the latest of many award-winning books.",
	"They divide their time between the city and the mountains.",
}

// article returns the indefinite article that goes before word.
func article(word string) string {
	if word != "" && strings.ContainsRune("AEIOUaeiou", rune(word[0])) {
		return "An"
	}
	return "A"
}
