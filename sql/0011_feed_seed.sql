-- The default feed list: real public financial feeds, each with its publisher's terms.
-- Feeds are data: `opsctl feeds add|remove|pause|resume` changes this list at run time; this seed
-- only runs once, and ON CONFLICT leaves a feed an operator already added untouched.
-- None of these URLs was fetched from the build machine (it has no network); see
-- docs/inbound-dock.md for what to check before relying on each one.
INSERT INTO feeds (url, name, enabled, tags, terms) VALUES
  ('https://www.sec.gov/cgi-bin/browse-edgar?action=getcurrent&type=8-K&company=&dateb=&owner=include&start=0&count=40&output=atom',
   'SEC EDGAR current 8-K filings', true, '{sec,filings,8-k}',
   'U.S. government work, public domain. SEC fair-access policy (https://www.sec.gov/os/accessing-edgar-data): at most 10 requests per second, and a User-Agent declaring the organisation and a contact e-mail (set OPS_INBOUND_CONTACT); anonymous clients get HTTP 403.'),
  ('https://www.sec.gov/news/pressreleases.rss',
   'SEC press releases', true, '{sec,regulator}',
   'U.S. government work, public domain; the same SEC fair-access policy applies (10 requests/s, declared User-Agent with contact).'),
  ('https://www.nasdaqtrader.com/rss.aspx?feed=tradehalts',
   'Nasdaq trade halts', true, '{nasdaq,halts}',
   'Nasdaq Trader website terms of use (https://www.nasdaqtrader.com/Trader.aspx?id=TermsOfUse): information for personal/internal use, provided as-is; redistribution or display to third parties needs a Nasdaq agreement. Poll no more than once a minute.'),
  ('https://www.globenewswire.com/RssFeed/orgclass/1/feedTitle/GlobeNewswire%20-%20News%20about%20Public%20Companies',
   'GlobeNewswire: public companies', true, '{wire,press-release}',
   'GlobeNewswire RSS terms (https://www.globenewswire.com/rss/list): free for personal, non-commercial use; headlines and links must keep attribution to GlobeNewswire and the issuer, and must link back to the full release.'),
  ('https://www.prnewswire.com/rss/news-releases-list.rss',
   'PR Newswire: all news releases', true, '{wire,press-release}',
   'PR Newswire RSS terms (https://www.prnewswire.com/rss/): free for non-commercial use; keep the PR Newswire attribution and link to the release; no redistribution of full text.'),
  ('https://feed.businesswire.com/rss/home/?rss=G1QFDERJXkJeGVtRWA==',
   'Business Wire: all news', false, '{wire,press-release}',
   'Business Wire RSS terms (https://www.businesswire.com/portal/site/home/news/rss/): personal, non-commercial use with attribution and a link back. Seeded DISABLED: the feed token in this URL is copied from Business Wire''s RSS page and could not be checked offline; verify it, then `opsctl feeds resume ID`.'),
  ('https://www.federalreserve.gov/feeds/press_all.xml',
   'Federal Reserve press releases', true, '{fed,regulator,macro}',
   'U.S. government work, public domain (https://www.federalreserve.gov/disclaimer.htm).')
ON CONFLICT (url) DO NOTHING;
