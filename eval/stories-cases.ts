// The synthetic syndication set behind `npm run eval -- stories` and test/inbound-dock/stories.test.ts.
// Written for this project (no copied text): releases as a wire, an aggregator and a portal would
// carry them (a label before the headline, other case and punctuation, a source named after it),
// beside news that shares most of their words but is another event. `story` is the truth.

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { decodeFeedBody } from "../services/inbound-dock/decode.ts";
import { normaliseItems } from "../services/inbound-dock/normalise.ts";
import { parseFeedText } from "../services/inbound-dock/parse.ts";
import { groupInMemory } from "../services/inbound-dock/stories.ts";

export interface SyndicationItem {
  /** Which of the three local feeds carried it (1 wire, 2 aggregator, 3 portal). */
  feed: number;
  title: string;
  /** Minutes after the set's start. */
  minute: number;
  /** Items with the same label are one event. */
  story: string;
}

/** One release through three feeds, with the small edits each feed makes. */
function syndicated(story: string, minute: number, wire: string, aggregator: string, portal: string) {
  return [
    { feed: 1, title: wire, minute, story },
    { feed: 2, title: aggregator, minute: minute + 7, story },
    { feed: 3, title: portal, minute: minute + 41, story },
  ];
}

export const SYNDICATION_SET: SyndicationItem[] = [
  ...syndicated(
    "acme-q3",
    0,
    "Acme Robotics Announces Third Quarter 2026 Results",
    "PRESS RELEASE: Acme Robotics announces third-quarter 2026 results",
    "Acme Robotics Announces Third Quarter 2026 Results - Business Wire",
  ),
  ...syndicated(
    "northwind-dividend",
    12,
    "Northwind Energy Declares Quarterly Dividend of $0.42 per Share",
    "NORTHWIND ENERGY DECLARES QUARTERLY DIVIDEND OF $0.42 PER SHARE",
    "Northwind Energy declares quarterly dividend of $0.42 per share (GlobeNewswire)",
  ),
  ...syndicated(
    "helio-fda",
    30,
    "Helio Therapeutics Receives FDA Approval for HT-201 in Adults with Severe Asthma",
    "Helio Therapeutics receives FDA approval for HT-201 in adults with severe asthma.",
    "UPDATE: Helio Therapeutics Receives FDA Approval For HT-201 In Adults With Severe Asthma | Reuters",
  ),
  ...syndicated(
    "zenith-acquires-orbit",
    45,
    "Zenith Payments to Acquire Orbit Ledger for $1.2 Billion in Cash",
    "Zenith Payments to acquire Orbit Ledger for $1.2 billion in cash",
    "Zenith Payments To Acquire Orbit Ledger For $1.2 Billion In Cash – PR Newswire",
  ),
  ...syndicated(
    "kestrel-ceo",
    60,
    "Kestrel Airlines Names Maria Okafor Chief Executive Officer",
    "Kestrel Airlines names Maria Okafor chief executive officer",
    "Kestrel Airlines Inc. Names Maria Okafor as Chief Executive Officer",
  ),
  ...syndicated(
    "borealis-guidance",
    75,
    "Borealis Foods Raises Full-Year Outlook After Strong Second Quarter",
    "BREAKING: Borealis Foods raises full-year outlook after strong second quarter",
    "Borealis Foods Raises Full Year Outlook After Strong Second Quarter - Yahoo Finance",
  ),
  ...syndicated(
    "quanta-recall",
    90,
    "Quanta Motors Recalls 48,000 Vehicles Over Brake Sensor Defect",
    "Quanta Motors recalls 48,000 vehicles over brake-sensor defect",
    "Quanta Motors Recalls 48,000 Vehicles over Brake Sensor Defects (Reuters)",
  ),
  ...syndicated(
    "lumen-offering",
    105,
    "Lumen Bio Announces Pricing of $150 Million Public Offering",
    "Press Release: Lumen Bio Announced Pricing of $150 Million Public Offering",
    "Lumen Bio announces pricing of $150 million public offering — Seeking Alpha",
  ),
  ...syndicated(
    "orion-revenue",
    120,
    "Orion Semiconductor (NASDAQ: ORSM) Reports Record Fourth Quarter Revenue",
    "Orion Semiconductor Reports Record Fourth Quarter Revenue",
    "Orion Semiconductor (Nasdaq:ORSM) reports record fourth-quarter revenue - GlobeNewswire",
  ),
  // Other news that shares most words with a release above: each is its own event.
  { feed: 2, title: "Beacon Robotics Announces Third Quarter 2026 Results", minute: 3, story: "beacon-q3" },
  { feed: 3, title: "Acme Robotics Announces Third Quarter 2025 Results", minute: 5, story: "acme-q3-2025" },
  { feed: 1, title: "Acme Robotics Announces Fourth Quarter 2026 Results", minute: 8, story: "acme-q4" },
  {
    feed: 2,
    title: "Northwind Energy Declares Quarterly Dividend of $0.44 per Share",
    minute: 20,
    story: "northwind-dividend-044",
  },
  {
    feed: 3,
    title: "Helio Therapeutics Receives FDA Complete Response Letter for HT-201",
    minute: 33,
    story: "helio-crl",
  },
  {
    feed: 1,
    title: "Orbit Ledger to Acquire Zenith Payments for $1.2 Billion in Cash",
    minute: 50,
    story: "orbit-acquires-zenith",
  },
  {
    feed: 3,
    title: "Kestrel Airlines Names Maria Okafor Chief Financial Officer",
    minute: 66,
    story: "kestrel-cfo",
  },
  {
    feed: 2,
    title: "Borealis Foods Cuts Full-Year Outlook After Weak Second Quarter",
    minute: 80,
    story: "borealis-cut",
  },
  {
    feed: 1,
    title: "Quanta Motors Recalls 48,000 Vehicles Over Airbag Defect",
    minute: 95,
    story: "quanta-airbag",
  },
  {
    feed: 3,
    title: "Lumen Bio Announces Proposed $150 Million Public Offering",
    minute: 110,
    story: "lumen-proposed",
  },
  {
    feed: 3,
    title: "Orion Semiconductor (NASDAQ: ORSM) Reports Record Fourth Quarter Bookings",
    minute: 125,
    story: "orion-bookings",
  },
];

export interface GroupingFigures {
  items: number;
  stories: number;
  /** Of the item pairs put in one story, the share that truly are one event (1 when none are). */
  pairPrecision: number;
  /** Of the item pairs that truly are one event, the share put in one story. */
  pairRecall: number;
}

/** Pairwise precision and recall of a grouping against the truth. Pure. */
export function pairFigures(truth: readonly string[], got: readonly (number | string)[]): GroupingFigures {
  let together = 0;
  let right = 0;
  let truePairs = 0;
  for (let i = 0; i < truth.length; i += 1) {
    for (let j = i + 1; j < truth.length; j += 1) {
      const isSame = truth[i] === truth[j];
      const saidSame = got[i] === got[j];
      if (isSame) truePairs += 1;
      if (saidSame) together += 1;
      if (isSame && saidSame) right += 1;
    }
  }
  return {
    items: truth.length,
    stories: new Set(got).size,
    pairPrecision: together === 0 ? 1 : right / together,
    pairRecall: truePairs === 0 ? 1 : right / truePairs,
  };
}

/** The exact-title baseline: items with byte-equal (trimmed) titles form one story. */
export function groupByExactTitle(items: readonly { title: string }[]): string[] {
  return items.map((item) => item.title.trim());
}

/** The synthetic set through ingest's rule and through the exact-title baseline. Pure. */
export function evaluateStories(set: readonly SyndicationItem[] = SYNDICATION_SET): {
  truth: { items: number; stories: number };
  ours: GroupingFigures;
  baseline: GroupingFigures;
} {
  const ordered = [...set].sort((a, b) => a.minute - b.minute);
  const truth = ordered.map((item) => item.story);
  const ours = groupInMemory(
    ordered.map((item) => ({ feedId: item.feed, title: item.title, publishedAt: item.minute * 60_000 })),
  );
  return {
    truth: { items: ordered.length, stories: new Set(truth).size },
    ours: pairFigures(truth, ours),
    baseline: pairFigures(truth, groupByExactTitle(ordered)),
  };
}

function listFeedFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return name === "expected" ? [] : listFeedFiles(full);
    return /\.(xml|rss|atom)$/.test(name) ? [full] : [];
  });
}

/**
 * Every stored item of every feed file under `feedsDir` (each file one feed), through decode,
 * parse and normalise as ingest does, oldest first. Files that are not feeds are skipped.
 */
export async function loadCorpusItems(
  feedsDir: string,
): Promise<{ feedId: number; title: string; publishedAt: number; file: string }[]> {
  const items: { feedId: number; title: string; publishedAt: number; file: string }[] = [];
  const fetchedAt = new Date("2026-01-01T00:00:00Z");
  for (const [feedId, file] of listFeedFiles(feedsDir).sort().entries()) {
    try {
      const parsed = await parseFeedText(decodeFeedBody(readFileSync(file)).text);
      const normalised = normaliseItems(parsed.items, {
        feedUrl: `http://corpus.invalid/${feedId}`,
        feedLink: parsed.link,
        fetchedAt,
      });
      for (const item of normalised.items) {
        items.push({
          feedId,
          title: item.title,
          publishedAt: item.publishedAt.getTime(),
          file: path.relative(feedsDir, file),
        });
      }
    } catch {
      // Not a feed (an HTML page, an empty document): the corpus report counts those.
    }
  }
  return items.sort((a, b) => a.publishedAt - b.publishedAt);
}
