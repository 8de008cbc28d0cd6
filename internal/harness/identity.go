package harness

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync/atomic"
)

// The grader must not be recognisable (DESIGN §3.2): a service that answers
// correctly only to Go's default User-Agent, or only to users whose e-mail
// looks like a test account, must not keep its marks. So requests carry
// realistic User-Agents that vary between requests (drawn from the seed),
// and users get neutral names, e-mails and passwords drawn from the seed.

// UserAgents are the User-Agent values the grader's requests carry: common
// browsers and command-line clients, as they write themselves.
var UserAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.97",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
	"curl/8.5.0",
	"PostmanRuntime/7.37.3",
	"HTTPie/3.2.2",
	"insomnia/8.6.1",
	"axios/1.6.8",
}

// userAgent returns the User-Agent of the n-th request of a check: a
// deterministic function of the run's seed, the check and n.
func userAgent(seed int64, check uint64, n uint64) string {
	f := fnv.New64a()
	fmt.Fprintf(f, "%d/%d/%d", seed, check, n)
	return UserAgents[f.Sum64()%uint64(len(UserAgents))]
}

// nextUserAgent is the User-Agent of the check's next request.
func (h *H) nextUserAgent() string {
	n := atomic.AddUint64(&h.check.requests, 1)
	return userAgent(h.Seed, h.check.salt, n)
}

// OtherUserAgent returns a User-Agent different from ua, for a probe sent a
// second time in other clothes (the answer must not change).
func (h *H) OtherUserAgent(ua string) string {
	n := atomic.AddUint64(&h.check.requests, 1)
	for i := uint64(0); ; i++ {
		if v := userAgent(h.Seed, h.check.salt, n+i*7919); v != ua {
			return v
		}
	}
}

var (
	firstNames = []string{"Maria", "Jonas", "Aiko", "Daniel", "Lucía", "Omar", "Priya", "Tomasz", "Chloé", "Kwame",
		"Sofia", "Mateo", "Hannah", "Ravi", "Elena", "Noah", "Yuki", "Amara", "Lars", "Fatima", "Ben", "Ingrid", "Diego", "Mei"}
	lastNames = []string{"Keller", "Okafor", "Tanaka", "Rossi", "Nguyen", "Schmidt", "García", "Kowalski", "Haddad", "Larsen",
		"Silva", "Murphy", "Novak", "Ahmed", "Dubois", "Jensen", "Moreau", "Fischer", "Costa", "Brennan", "Ito", "Petrov"}
	mailDomains = []string{"gmail.com", "outlook.com", "proton.me", "yahoo.com", "fastmail.com", "icloud.com", "hey.com", "gmx.net"}
	passWords   = []string{"harbor", "velvet", "cobalt", "meadow", "quartz", "lantern", "saffron", "glacier", "tundra", "orchid"}
)

// Person is a plausible account: a name, an e-mail and a password drawn
// from r. The e-mail carries tag (digits) so that it is unique in the run.
type Person struct {
	Name, Email, Password string
}

// NewPerson draws a neutral person from r; tag makes the e-mail unique.
func NewPerson(r *rand.Rand, tag string) Person {
	first, last := firstNames[r.IntN(len(firstNames))], lastNames[r.IntN(len(lastNames))]
	local := asciiLower(first)
	switch r.IntN(3) {
	case 0:
		local += "." + asciiLower(last)
	case 1:
		local = local[:1] + asciiLower(last)
	default:
		local += "_" + asciiLower(last)
	}
	pw := passWords[r.IntN(len(passWords))]
	pw = strings.ToUpper(pw[:1]) + pw[1:] + "-" + passWords[r.IntN(len(passWords))] + fmt.Sprint(10+r.IntN(90)) + "!"
	return Person{
		Name:     first + " " + last,
		Email:    local + tag + "@" + mailDomains[r.IntN(len(mailDomains))],
		Password: pw,
	}
}

// asciiLower lower-cases s and folds the few accented letters of the name
// lists to ASCII, for the local part of an e-mail.
func asciiLower(s string) string {
	return strings.NewReplacer("í", "i", "é", "e", "á", "a").Replace(strings.ToLower(s))
}

// BrowserAndToolUserAgents draws two User-Agents from r: a browser's and a
// command-line or library client's, for a probe sent once in each (the
// "second form" of DESIGN §3.2: a service must not answer browsers and
// other clients differently where the contract does not say so).
func BrowserAndToolUserAgents(r *rand.Rand) (browser, tool string) {
	var bs, ts []string
	for _, ua := range UserAgents {
		if strings.HasPrefix(ua, "Mozilla/") {
			bs = append(bs, ua)
		} else {
			ts = append(ts, ua)
		}
	}
	return bs[r.IntN(len(bs))], ts[r.IntN(len(ts))]
}
