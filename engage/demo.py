"""The built-in sample data behind ``engage demo``.

Ninety days of one persona, Pat Rivera (a web developer who blogs at patblog.example), on
Mastodon, Bluesky and X, telling a story in three acts:

1. **Talking** (days 90 to 61 before today): questions, answers, replies to friends, a few shares.
2. **Autobot** (days 60 to 22): dlvr.it posts every new and old blog post at 09:00, Buffer
   schedules "ICYMI" re-posts of the same four links, and most of the rest are bare
   retweets/boosts/reposts. Friends keep asking Pat things; most go unanswered.
3. **Recovery** (the last 21 days): the automation is switched off, Pat answers people again and
   meets the daily goal most days. Today Pat has one genuine interaction so far and Ana asked a
   question about three hours ago.

The data is generated from hand-written sentences with a fixed seed, relative to "now", so the
demo always ends today. It is written to its own database, never the user's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from connectors.base import Mention, Post
from engage.errors import StoreError

PAT = {
    "mastodon": "pat@mastodon.example",
    "bluesky": "pat.bsky.social",
    "x": "pat_rivera",
}
PAT_DID = "did:plc:patrivera4demo0000000000"
BLOG = "https://patblog.example"
RECYCLED = [
    f"{BLOG}/2024/css-container-queries",
    f"{BLOG}/2024/why-i-left-webpack",
    f"{BLOG}/2025/accessible-forms",
    f"{BLOG}/2025/sqlite-in-the-browser",
]
FRIENDS = {
    "ana": {"mastodon": "ana@social.example", "bluesky": "ana.bsky.social", "x": "ana_codes"},
    "ben": {"mastodon": "ben@hachyderm.example", "bluesky": "benw.bsky.social", "x": "benwrites"},
    "chen": {"mastodon": "chen@fosstodon.example", "bluesky": "chen.dev", "x": "chen_li"},
    "dara": {"mastodon": "dara@mastodon.example", "bluesky": "dara.bsky.social", "x": "daraknows"},
    "eli": {"mastodon": "eli@social.example", "bluesky": "eli.bsky.social", "x": "eli_makes"},
    "fatima": {
        "mastodon": "fatima@fosstodon.example",
        "bluesky": "fatima.bsky.social",
        "x": "fatimaux",
    },
}

# Hand-written sentences. {f} is a friend's handle where the sentence addresses someone.
ASKS = [
    "Anyone have a favourite way to test focus order in a big form? Axe misses half of it for me.",
    "Genuine question: do you still write CSS resets in 2025 or just lean on the browser defaults?",
    "What's the nicest small static site generator right now? Tired of fighting my build.",
    "@{f} did you ever get that flaky Playwright test to behave? I'm staring at the same timeout",
    "Is anyone going to the local meetup on Thursday? Would love to finally say hi in person",
    "Which screen reader + browser combo do you test with first? Trying to set a sane default.",
    "Podcast recommendations for long train rides? Tech or not, I'm open",
    "@{f} how did you structure the migrations in your side project? Mine are a mess of dates",
    "How do you all keep notes from conference talks without drowning in them?",
    "Has anyone moved a team from Jest to Vitest? Worth it for a mid-size app?",
    "what are people using for uptime checks on tiny personal sites? free-ish please",
    "@{f} any tips for a first-time speaker? Got accepted and I'm slightly panicking",
]
ANSWERS = [
    "@{f} you need to set the container-type on the parent, not the element itself. Took me a day to notice",
    "@{f} yes! `prefers-reduced-motion` covers it, wrap the animation in that media query",
    "@{f} I use litestream for backups of small sqlite apps, restores have been painless",
    "@{f} the trick is `inert` on the background while the dialog is open. MDN has a good page on it",
    "@{f} it's in the project settings under Webhooks, then 'Add secret'. The docs hide it well",
    "@{f} pin the version in package.json, the 4.x release changed the default export",
    "@{f} for me it was the service worker caching the old bundle. Hard refresh + unregister fixed it",
    "@{f} NVDA + Firefox first, then VoiceOver + Safari. That catches most of what I ship wrong",
    "@{f} label + aria-describedby for the hint text, and don't put the error only in a placeholder",
    "@{f} I'd start with Eleventy, zero client JS by default and the docs are friendly",
]
COMMENTS = [
    "@{f} congrats on the launch!! that landing page is gorgeous",
    "@{f} ha, I did exactly the same thing last week. Solidarity.",
    "@{f} thank you, this saved my afternoon",
    "Spent the morning deleting code instead of writing it. Best kind of day.",
    "Finally fixed the bug that's been haunting our checkout for a month. It was a timezone. Of course it was.",
    "@{f} this thread is so good, bookmarking all of it",
    "The new keyboard arrived and I'm typing everything twice just because it sounds nice",
    "@{f} same here, the new release broke my build too",
    "Hot take: most dashboards would be better as a weekly email",
    "@{f} that photo of the harbour is unreal",
    "Quiet week. Read two books, wrote zero lines of code, feel great about it.",
    "@{f} love this idea, count me in for the workshop",
    "Been pairing with a junior dev this week and I learned more than she did, I think",
    "@{f} totally agree, the old docs were better organised",
]
SHARE_TITLES = [
    "The Web Almanac 2025: CSS chapter",
    "How we cut our bundle size in half",
    "What's new in Firefox 140",
    "A complete guide to CSS cascade layers",
    "Why your forms are still inaccessible",
    "The state of JavaScript 2025 results",
]
SHARE_LINKS = [
    "https://almanac.example/2025/css",
    "https://eng.shopco.example/bundle-size",
    "https://hacks.mozilla.example/firefox-140",
    "https://csstricks.example/cascade-layers",
    "https://a11yweekly.example/forms",
    "https://stateofjs.example/2025",
]
PROMO_TEMPLATES = [
    "New post: {title} {url}",
    "ICYMI: {title} {url} #webdev #css",
    "From the archive: {title} {url}",
    "Don't miss my latest article! {title} {url} #frontend",
    "Is your form accessible? Find out in my guide: {url}",
]
BLOG_TITLES = [
    "CSS container queries in practice",
    "Why I left webpack",
    "Accessible forms, the boring way",
    "SQLite in the browser: a field report",
]
MENTION_QUESTIONS = [
    "@{pat} quick one: how do you handle dark mode tokens in your design system?",
    "@{pat} is your accessible forms talk recorded anywhere?",
    "@{pat} which testing library did you end up using for the Svelte app?",
    "@{pat} do you still recommend litestream? thinking of using it",
    "@{pat} any chance you'd review my conference proposal this week?",
    "@{pat} where did you get the keyboard? looks lovely",
    "@{pat} how long did the webpack to vite migration take you?",
]
MENTION_COMMENTS = [
    "@{pat} loved your post about container queries!",
    "@{pat} congrats on the new job!!",
    "@{pat} this is such a good point",
    "@{pat} thanks for the tip yesterday, it worked",
]


@dataclass
class DemoData:
    posts: list[Post] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    end: datetime = field(default_factory=lambda: datetime.now(UTC))


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def next(self, platform: str, when: datetime, author: str = "pat") -> str:
        self.n += 1
        if platform == "x":
            # snowflake-like: time in the high bits, so ids sort by time like real ones
            ms = int(when.timestamp() * 1000) - 1288834974657
            return str((ms << 22) + self.n)
        if platform == "mastodon":
            return str((int(when.timestamp() * 1000) << 16) + self.n)
        did = PAT_DID if author == "pat" else f"did:plc:{author}demo{self.n:08d}"
        return f"at://{did}/app.bsky.feed.post/3l{self.n:011d}"


def _url(platform: str, post_id: str, author: str) -> str:
    if platform == "x":
        return f"https://x.com/{author}/status/{post_id}"
    if platform == "mastodon":
        user, _, host = author.partition("@")
        return f"https://{host or 'mastodon.example'}/@{user}/{post_id}"
    rkey = post_id.rsplit("/", 1)[-1]
    return f"https://bsky.app/profile/{author}/post/{rkey}"


def build_demo_data(now: datetime | None = None, seed: int = 7) -> DemoData:
    """The demo story, ending at ``now`` (default: the current time)."""
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    ids = _Ids()
    data = DemoData(end=now)
    today0 = now.replace(hour=0, minute=0, second=0)
    data.start = today0 - timedelta(days=89)
    platforms = ["mastodon", "bluesky", "x"]

    def add_post(
        platform: str,
        when: datetime,
        text: str,
        kind: str = "post",
        client: str | None = None,
        reply_to: Mention | None = None,
        reply_user: str | None = None,
        urls: list[str] | None = None,
        reposted: str | None = None,
    ) -> Post:
        pid = ids.next(platform, when)
        mentions = [w[1:].rstrip(".,:!?") for w in text.split() if w.startswith("@") and len(w) > 1]
        if platform == "bluesky":
            client = None
        post = Post(
            platform=platform,
            account=PAT[platform],
            post_id=pid,
            url=_url(platform, pid, PAT[platform]),
            created_at=when,
            text=text,
            kind=kind,
            reply_to_post=reply_to.mention_id if reply_to else None,
            reply_to_user=reply_to.author if reply_to else reply_user,
            thread_root=(reply_to.thread_root or reply_to.mention_id) if reply_to else None,
            reposted_post=reposted,
            urls=urls or [],
            mentions=mentions,
            client=client,
            lang="en",
            raw={"demo": True},
            source="demo",
            fetched_at=now,
        )
        data.posts.append(post)
        return post

    def add_mention(platform: str, when: datetime, friend: str, text: str) -> Mention:
        author = FRIENDS[friend][platform]
        mid = ids.next(platform, when, author=friend)
        m = Mention(
            platform=platform,
            account=PAT[platform],
            mention_id=mid,
            author=author,
            created_at=when,
            text=text.format(pat=PAT[platform]),
            kind="mention",
            url=_url(platform, mid, author),
            thread_root=mid,
            raw={"demo": True},
            source="demo",
            fetched_at=now,
        )
        data.mentions.append(m)
        return m

    def human_client(platform: str) -> str | None:
        if platform == "x":
            return rng.choice(["Twitter Web App", "Twitter for iPhone", "Twitter for iPhone"])
        if platform == "mastodon":
            return rng.choice(["Web", "Ivory for iOS", "Web"])
        return None

    def at(day: datetime, hour: int, minute: int | None = None) -> datetime:
        return day + timedelta(hours=hour, minutes=rng.randrange(60) if minute is None else minute)

    for back in range(89, -1, -1):
        day = today0 - timedelta(days=back)
        is_today = back == 0
        if back >= 60:
            act = "talking"
        elif back >= 21:
            act = "autobot"
        else:
            act = "recovery"

        # Friends write to Pat every day or two, in every act.
        n_mentions = rng.choice([0, 1, 1, 2])
        day_mentions: list[Mention] = []
        for _ in range(n_mentions):
            plat = rng.choice(platforms)
            friend = rng.choice(list(FRIENDS))
            hour = rng.randrange(8, 20)
            when = at(day, hour)
            if when > now:
                continue
            pool = MENTION_QUESTIONS if rng.random() < 0.65 else MENTION_COMMENTS
            day_mentions.append(add_mention(plat, when, friend, rng.choice(pool)))

        if act == "autobot":
            # dlvr.it posts a blog link at 09:00 sharp on X and Mastodon, Buffer recycles links.
            link = rng.choice(RECYCLED)
            title = BLOG_TITLES[RECYCLED.index(link)]
            for plat in ("x", "mastodon"):
                text = rng.choice(PROMO_TEMPLATES[:3]).format(title=title, url=link)
                add_post(plat, day + timedelta(hours=9), text, client="dlvr.it", urls=[link])
            if rng.random() < 0.8:
                link = rng.choice(RECYCLED)
                title = BLOG_TITLES[RECYCLED.index(link)]
                text = rng.choice(PROMO_TEMPLATES).format(title=title, url=link)
                add_post("x", day + timedelta(hours=15), text, client="Buffer", urls=[link])
                add_post("bluesky", day + timedelta(hours=15, minutes=1), text, urls=[link])
            for _ in range(rng.randrange(2, 5)):
                plat = rng.choice(platforms)
                friend = rng.choice(list(FRIENDS))
                handle = FRIENDS[friend][plat]
                i = rng.randrange(len(SHARE_TITLES))
                text = f"RT @{handle}: {SHARE_TITLES[i]} {SHARE_LINKS[i]}" if plat == "x" else ""
                add_post(
                    plat,
                    at(day, rng.randrange(10, 22)),
                    text,
                    kind="repost",
                    client=human_client(plat),
                    urls=[SHARE_LINKS[i]],
                    reposted=f"{plat}:{friend}:{i}",
                )
            # now and then a genuine reply slips through
            if day_mentions and rng.random() < 0.25:
                m = day_mentions[0]
                friend_key = next(k for k, v in FRIENDS.items() if m.author in v.values())
                text = rng.choice(COMMENTS if "?" not in m.text else ANSWERS)
                text = text.format(f=FRIENDS[friend_key][m.platform])
                add_post(
                    m.platform,
                    m.created_at + timedelta(hours=rng.randrange(2, 30)),
                    text,
                    kind="reply",
                    client=human_client(m.platform),
                    reply_to=m,
                )
            continue

        # talking and recovery: Pat answers most of what friends write, asks and comments.
        answer_share = 0.85 if act == "talking" else 0.75
        for m in day_mentions:
            if is_today and m is day_mentions[-1]:
                break  # today's last mention stays open: "waiting for you"
            if rng.random() > answer_share:
                continue
            friend_key = next(k for k, v in FRIENDS.items() if m.author in v.values())
            pool = ANSWERS if "?" in m.text else COMMENTS
            when = m.created_at + timedelta(minutes=rng.randrange(20, 300))
            if when > now:
                continue
            text = rng.choice(pool).format(f=FRIENDS[friend_key][m.platform])
            add_post(
                m.platform, when, text, kind="reply", client=human_client(m.platform), reply_to=m
            )
        if is_today:
            # one genuine interaction so far today, and Ana's question from ~3 hours ago waits
            # (from last night when the demo runs just after midnight)
            add_mention(
                "mastodon",
                now - timedelta(hours=3, minutes=5),
                "ana",
                "@{pat} do you have a checklist for testing forms with a screen reader?",
            )
            first = max(today0, now - timedelta(minutes=40))
            add_post("mastodon", first, rng.choice(COMMENTS[3:5]), client="Web")
            continue
        n_own = rng.randrange(1, 4) if act == "talking" else rng.randrange(1, 3)
        for _ in range(n_own):
            plat = rng.choice(platforms)
            friend = rng.choice(list(FRIENDS))
            pool = rng.choice([ASKS, COMMENTS, COMMENTS])
            text = rng.choice(pool).format(f=FRIENDS[friend][plat])
            is_reply = text.startswith("@")
            add_post(
                plat,
                at(day, rng.randrange(8, 22)),
                text,
                kind="reply" if is_reply else "post",
                client=human_client(plat),
                reply_user=FRIENDS[friend][plat] if is_reply else None,
            )
        if rng.random() < 0.5:
            plat = rng.choice(platforms)
            i = rng.randrange(len(SHARE_TITLES))
            text = f"{SHARE_TITLES[i]} {SHARE_LINKS[i]}"
            if plat == "bluesky":
                text = ""
            add_post(
                plat,
                at(day, rng.randrange(9, 21)),
                text,
                client=human_client(plat),
                urls=[SHARE_LINKS[i]],
            )
        if rng.random() < 0.12:
            i = rng.randrange(len(BLOG_TITLES))
            text = f"Wrote up what I learned about {BLOG_TITLES[i].lower()}, feedback very welcome: {RECYCLED[i]}"
            add_post("mastodon", at(day, 11), text, client="Web", urls=[RECYCLED[i]])

    data.posts.sort(key=lambda p: p.created_at)
    data.posts = [p for p in data.posts if p.created_at <= now]
    data.mentions = [m for m in data.mentions if m.created_at <= now]
    return data


@dataclass(frozen=True)
class DemoResult:
    path: Path
    posts: int
    mentions: int
    start: datetime
    end: datetime


def write_demo_database(path: Path, now: datetime | None = None) -> DemoResult:
    """Build the demo database at ``path`` from scratch (an old demo file there is replaced)."""
    from engage.store import open_store

    data = build_demo_data(now)
    tmp = path.with_name(path.name + ".building")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot write the demo database {path}: {exc.strerror or exc}; choose another "
            "place with --out"
        ) from None
    with open_store(tmp) as store:
        store.commit_page("demo", "posts", data.posts, data.mentions, None)
        from engage.classify import label_new_posts

        label_new_posts(store)  # the demo shows labels and reasons like a real database
    tmp.replace(path)
    path.with_name(path.name + ".wal").unlink(missing_ok=True)
    return DemoResult(path, len(data.posts), len(data.mentions), data.start, data.end)
