import assert from "node:assert/strict";
import { afinn165FinancialMarketNews } from "afinn-165-financialmarketnews";
import { figures, readPhraseBank, splitOf, summedWordList } from "../../eval/sentiment-corpus.ts";
import { prepareText } from "../../services/sortation/classifier.ts";
import {
  LEXICON_MAX_CHARS,
  lexiconClassifier,
  lexiconScore,
  lexiconSentiment,
} from "../../services/sortation/lexicon.ts";

const label = (text: string) => lexiconSentiment(text).label;

describe("lexicon rules", () => {
  it("scores a quantity by its direction: a narrower loss is good news, lower sales bad", () => {
    assert.equal(label("Operating loss narrowed to EUR 2.1 mn"), "positive");
    assert.equal(label("Net sales decreased by 12 % in the quarter"), "negative");
    assert.equal(label("Operating profit rose to EUR 13.1 mn"), "positive");
    assert.equal(label("Operating loss increased to EUR 17mn"), "negative");
    // A quantity alone is a topic, not a sentiment.
    assert.equal(label("The company reports its net sales on Friday"), "neutral");
  });

  it("compares this period's figure with the earlier one in report language", () => {
    assert.equal(label("Net sales were EUR 37.5 million ( EUR 48.2 million )"), "negative");
    assert.equal(label("Operating profit totalled EUR 9.0 mn compared to EUR 6.1 mn"), "positive");
    assert.equal(label("Costs totalled EUR 9.0 mn compared to EUR 6.1 mn"), "negative");
  });

  it("scores finance phrases as a unit", () => {
    assert.equal(label("Acme beats estimates"), "positive");
    assert.equal(label("Acme cuts guidance for 2026"), "negative");
    assert.equal(label("Acme issues profit warning"), "negative");
    // Results against expectations, whatever sits between: "topped consensus forecasts".
    assert.equal(label("Acme topped consensus forecasts"), "positive");
    assert.equal(label("Acme came in below analysts' estimates"), "negative");
    assert.equal(label("Acme lays off staff; to lay off 300 workers"), "negative");
  });

  it("flips what follows a negator within its clause only", () => {
    assert.equal(label("Company fails to beat estimates"), "negative");
    assert.equal(label("No bankruptcy fears, says CEO"), "positive");
    assert.ok(lexiconScore("not good . strong results") > lexiconScore("not good , not strong results"));
  });

  it("multiplies the next scored word after an intensifier", () => {
    assert.ok(lexiconScore("sales rose sharply") > lexiconScore("sales rose"));
    assert.ok(lexiconScore("sales rose slightly") < lexiconScore("sales rose"));
    assert.ok(lexiconScore("sharply higher sales") > lexiconScore("higher sales"));
  });

  it("falls back to a stem for inflections the word list lacks", () => {
    // The list has "miss" and "beat" but not "misses" and "beats".
    assert.equal(afinn165FinancialMarketNews.misses, undefined);
    assert.ok(lexiconScore("misses") < 0);
    assert.ok(lexiconScore("beats") > 0);
  });

  it("gives probabilities that sum to 1 and a label that is the most probable class", () => {
    for (const text of ["Acme beats estimates", "Acme cuts guidance", "Acme holds its meeting"]) {
      const s = lexiconSentiment(text);
      assert.ok(Math.abs(s.pPositive + s.pNegative + s.pNeutral - 1) < 1e-9);
      const best = Math.max(s.pPositive, s.pNegative, s.pNeutral);
      assert.equal({ positive: s.pPositive, negative: s.pNegative, neutral: s.pNeutral }[s.label], best);
    }
  });

  it("scores a 1 MB headline by its start, quickly and without throwing", async () => {
    const huge = `Acme beats estimates ${"and more words ".repeat(70_000)}`;
    assert.ok(huge.length > 1_000_000);
    const [sentiment] = await lexiconClassifier().classify([huge]);
    assert.equal(sentiment?.label, "positive");
    assert.equal(lexiconScore(huge), lexiconScore(huge.slice(0, LEXICON_MAX_CHARS)));
  });

  it("treats control characters as spaces before scoring", () => {
    const prepared = prepareText("Acme\u0000beats\u0007estimates\r\n");
    assert.equal(prepared.controls, true);
    assert.equal(prepared.text, "Acme beats estimates ");
    assert.equal(label(prepared.text), "positive");
    assert.equal(prepareText("plain").controls, false);
    // Tabs and line breaks become spaces without counting as unusual.
    assert.deepEqual(prepareText("two\r\nlines\t"), {
      text: "two lines ",
      truncated: false,
      controls: false,
    });
    assert.equal(prepareText("x".repeat(10_000)).truncated, true);
  });
});

describe("lexicon on the PhraseBank development sentences (npm run eval -- sentiment)", () => {
  const sentences = readPhraseBank();

  before(function () {
    if (!sentences) {
      console.warn("    (skipped: ../shared/corpus/sentiment is absent; set OPS_CORPUS_DIR)");
      this.skip();
    }
  });

  it("splits one sentence in five into the held-back set, by a hash of its text", () => {
    const rows = sentences ?? [];
    const held = rows.filter((row) => row.split === "held-back").length;
    assert.ok(held > rows.length * 0.17 && held < rows.length * 0.23, `${held} of ${rows.length}`);
    for (const row of rows.slice(0, 50)) assert.equal(splitOf(row.text), row.split);
  });

  it("holds accuracy 0.63 and macro-F1 0.60 on all of them, and 0.64 / 0.62 on the held-back split", () => {
    const rows = sentences ?? [];
    const all = figures(
      rows.map((row) => row.label),
      rows.map((row) => label(row.text)),
    );
    const heldRows = rows.filter((row) => row.split === "held-back");
    const held = figures(
      heldRows.map((row) => row.label),
      heldRows.map((row) => label(row.text)),
    );
    // Reached when written: all 0.634 / 0.611, held-back 0.644 / 0.632.
    assert.ok(all.accuracy >= 0.63, `accuracy ${all.accuracy}`);
    assert.ok(all.macroF1 >= 0.6, `macro-F1 ${all.macroF1}`);
    assert.ok(held.accuracy >= 0.64, `held-back accuracy ${held.accuracy}`);
    assert.ok(held.macroF1 >= 0.62, `held-back macro-F1 ${held.macroF1}`);
  });

  it("beats the plain summed finance word list it is built on, on the held-back split", () => {
    const rows = (sentences ?? []).filter((row) => row.split === "held-back");
    const actual = rows.map((row) => row.label);
    const ours = figures(
      actual,
      rows.map((row) => label(row.text)),
    );
    const summedScorer = summedWordList(afinn165FinancialMarketNews);
    const summed = figures(
      actual,
      rows.map((row) => summedScorer(row.text)),
    );
    assert.ok(ours.macroF1 > summed.macroF1 + 0.05, `${ours.macroF1} vs ${summed.macroF1}`);
    assert.ok(ours.accuracy > summed.accuracy + 0.05, `${ours.accuracy} vs ${summed.accuracy}`);
  });
});
