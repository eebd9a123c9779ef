package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

type keysItem struct {
	Name     string `json:"name"`
	Quantity int    `json:"quantity"`
}

type KeysEmbedded struct {
	Note string `json:"note"`
}

type KeysEmbeddedPtr struct {
	Tag string `json:"tag"`
}

// keysShadow embeds a struct whose "title" the outer struct's own field shadows.
type keysShadow struct {
	Title string `json:"title"`
}

type keysBody struct {
	KeysEmbedded
	*KeysEmbeddedPtr
	keysShadow
	Title   string              `json:"title"`
	Items   []keysItem          `json:"items"`
	ByKey   map[string]keysItem `json:"by_key"`
	Ptr     *keysItem           `json:"ptr"`
	Opt     reqOptionalID       `json:"opt"`
	OptItem billOpt[keysItem]   `json:"opt_item"`
	Raw     json.RawMessage     `json:"raw"`
	Any     any                 `json:"any"`
	NoTag   string
	Hidden  string       `json:"-"`
	Lists   [][]keysItem `json:"lists"`
}

// decodeBytes accepts only object keys that are exactly a JSON name of the field they fill,
// once per object, at every depth encoding/json descends to; a type that decodes itself
// (json.Unmarshaler) is left to its own rules. A refused key is named with its path.
func TestDecodeBytesStrictKeys(t *testing.T) {
	const id = `"0b9d1c1e-1c43-4a8e-9d55-5f3f6a1f3e2a"`
	cases := []struct {
		name, body  string
		field, msg  string // "" : accepted
		wholeDetail string // a whole-body problem containing this
	}{
		{"exact keys", `{"title":"t","note":"n","tag":"g","items":[{"name":"a","quantity":1}],"by_key":{"Any Key":{"name":"b"}},"ptr":{"quantity":2},"NoTag":"x"}`, "", "", ""},
		{"escaped key spelling the name exactly", `{"\u0074itle":"t"}`, "", "", ""},
		{"optional id, set and null", `{"opt":` + id + `}`, "", "", ""},
		{"optional id null", `{"opt":null}`, "", "", ""},
		{"optional struct", `{"opt_item":{"name":"a"}}`, "", "", ""},
		{"raw and any take any keys", `{"raw":{"X":1,"x":2},"any":{"A":[{"B":1}]}}`, "", "", ""},

		{"key in another case", `{"Title":"t"}`, "Title", unknownKeyMsg, ""},
		{"key in capitals", `{"TITLE":"t"}`, "TITLE", unknownKeyMsg, ""},
		{"a second spelling of a given key", `{"title":"a","Title":"b"}`, "Title", unknownKeyMsg, ""},
		{"Unicode folding (long s for s)", `{"ptr":{"name":"a"},"item\u017f":[]}`, "item\u017f", unknownKeyMsg, ""},
		{"Unicode folding (Kelvin sign for k)", `{"by_\u212aey":{}}`, "by_\u212aey", unknownKeyMsg, ""},
		{"duplicate key", `{"title":"a","title":"b"}`, "title", duplicateKeyMsg, ""},
		{"Go field name of a tagged field", `{"Items":[]}`, "Items", unknownKeyMsg, ""},
		{"hidden field", `{"Hidden":"x"}`, "Hidden", unknownKeyMsg, ""},
		{"an embedded struct's type name", `{"keysShadow":{}}`, "keysShadow", unknownKeyMsg, ""},
		{"embedded field in another case", `{"Note":"n"}`, "Note", unknownKeyMsg, ""},
		{"embedded pointer field in another case", `{"TAG":"g"}`, "TAG", unknownKeyMsg, ""},
		{"untagged field in another case", `{"notag":"x"}`, "notag", unknownKeyMsg, ""},
		{"key in another case inside a list", `{"items":[{"name":"a"},{"Quantity":1}]}`, "items.Quantity", unknownKeyMsg, ""},
		{"unknown key inside a list", `{"items":[{"nam":"a"}]}`, "items.nam", unknownKeyMsg, ""},
		{"duplicate key inside a list", `{"items":[{"quantity":1,"quantity":2}]}`, "items.quantity", duplicateKeyMsg, ""},
		{"key in another case in a list of lists", `{"lists":[[{"NAME":"a"}]]}`, "lists.NAME", unknownKeyMsg, ""},
		{"key in another case in a map value", `{"by_key":{"k":{"Name":"a"}}}`, "by_key.k.Name", unknownKeyMsg, ""},
		{"duplicate map key", `{"by_key":{"k":{},"k":{}}}`, "by_key.k", duplicateKeyMsg, ""},
		{"key in another case behind a pointer", `{"ptr":{"quantitY":1}}`, "ptr.quantitY", unknownKeyMsg, ""},
		{"key in another case in an optional struct", `{"opt_item":{"Name":"a"}}`, "opt_item.Name", unknownKeyMsg, ""},
		{"duplicate optional id", `{"opt":null,"opt":` + id + `}`, "opt", duplicateKeyMsg, ""},
		{"duplicate key inside an interface value", `{"any":{"a":1,"a":2}}`, "any.a", duplicateKeyMsg, ""},

		{"not JSON: the decoder says why", `{"title":`, "", "", "not valid JSON"},
		{"too deep: the decoder says why", `{"any":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "", "", "exceeded max depth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v keysBody
			err := decodeBytes([]byte(c.body), &v)
			switch {
			case c.field == "" && c.wholeDetail == "":
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
			case c.wholeDetail != "":
				p := asProblem(err)
				if err == nil || len(p.fields) != 0 || !strings.Contains(p.detail, c.wholeDetail) {
					t.Fatalf("got %v, want a whole-body problem about %q", err, c.wholeDetail)
				}
			default:
				if err == nil {
					t.Fatalf("accepted: %+v", v)
				}
				p := asProblem(err)
				if p.code != CodeValidation || len(p.fields) != 1 || p.fields[0].Field != c.field || p.fields[0].Message != c.msg {
					t.Fatalf("got %v %+v, want %s %q", err, p.fields, c.field, c.msg)
				}
			}
		})
	}
}

// The keys of a body of many objects are checked in one pass, quickly.
func BenchmarkDecodeBytesStrictKeys(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"title":"t","items":[`)
	for i := range 20000 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"name":"an item","quantity":3}`)
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var v keysBody
		if err := decodeBytes(body, &v); err != nil {
			b.Fatal(err)
		}
	}
}
