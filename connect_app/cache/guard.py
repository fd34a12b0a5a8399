"""The semantic cache's guard: is a similar-looking earlier request really the same request?

Embedding similarity alone serves wrong answers: "email Alice about Bob" and "email Bob about
Alice", "summarize the comments" and "summarize it, not the comments", or the same words on another
issue all score high. A candidate above the threshold is served only when :func:`same_request`
agrees. It is deliberately conservative: a missed hit costs one model call, a wrong hit a wrong
reply.

Checks, in order (the first that fails is the reason): same issue key; same issue content hash (an
edited issue never hits); same prompt version, recipient, tone and language; then on the request
texts: same negations (and what they negate), same numbers and dates, the same named things in
the same order (capitalised words, @mentions, quoted strings, issue keys, email addresses, URLs and
words outside a vocabulary of everyday request words, which catches lower-case names), and the same
qualifiers (shorter/longer, bullets/table, internal/external, ...).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..models import CacheHint

Guard = Callable[[CacheHint, CacheHint], tuple[bool, str]]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ---------------------------------------------------------------------------------- vocabularies
_NEGATION_WORDS = _wordset(
    "not no never without none nothing nobody nowhere neither nor cannot except excluding exclude "
    "omit omitting skip skipping avoid avoiding instead minus "
    # German, French, Spanish, Italian, Portuguese
    "nicht kein keine keinen keinem keiner nie niemals ohne pas jamais sans aucun aucune rien "
    "nunca sin ningún ninguna nada non senza mai nenhum nenhuma sem"
)
_NEGATION_PHRASES = re.compile(r"\b(?:no longer|leave out|rather than|other than|apart from|but not)\b")

#: Words that change what is asked for; synonyms share a canonical label.
_QUALIFIER_GROUPS = {
    "short": "short shorter shortest brief briefly briefer concise concisely quick quickly compact terse "
             "succinct tldr one-line one-liner condensed condense shorten trim",
    "long": "long longer detailed detail details thorough thoroughly comprehensive full fully elaborate "
            "expand expanded extended in-depth verbose lengthy deep deeper",
    "more": "more additional extra increase increased raise higher bigger larger",
    "less": "less fewer reduce reduced decrease decreased lower smaller",
    "before": "before earlier prior previous previously",
    "after": "after later following upcoming afterwards",
    "first": "first earliest oldest initial",
    "last": "last latest newest recent recently final",
    "positive": "approve approved approval accept accepted agree agreed yes positive good",
    "negative": "reject rejected rejection decline declined deny denied refuse refused disagree negative bad",
    "open": "open unresolved pending remaining outstanding unanswered todo",
    "closed": "closed resolved done finished completed complete",
    "internal": "internal internally private",
    "external": "external externally public publicly",
    "urgent": "urgent urgently asap immediately critical",
    "simple": "simple simply plain non-technical layman layperson eli5",
    "technical": "technical technically engineering",
    "list": "bullet bullets bulleted list listed numbered checklist points",
    "table": "table tabular",
    "prose": "paragraph paragraphs prose",
    "question": "question questions",
    "risk": "risk risks blocker blockers blocked blocking",
    "cost": "cost costs price pricing budget",
    "timeline": "timeline eta deadline schedule",
}
_QUALIFIERS = {word: label for label, words in _QUALIFIER_GROUPS.items() for word in words.split()}

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "fifteen": "15", "twenty": "20", "thirty": "30", "fifty": "50", "hundred": "100",
    "thousand": "1000", "dozen": "12", "half": "0.5", "couple": "2", "single": "1",
    "third": "3rd", "fourth": "4th", "fifth": "5th", "twice": "2x", "once": "1x",
}
_DATE_WORDS = {
    **{m: f"month:{i}" for i, names in enumerate(
        ("jan january", "feb february", "mar march", "apr april", "may", "jun june", "jul july",
         "aug august", "sep sept september", "oct october", "nov november", "dec december"), start=1)
       for m in names.split()},
    **{d: f"day:{d[:3]}" for d in _wordset(
        "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thurs fri sat sun"
    )},
    **{w: f"rel:{w}" for w in _wordset(
        "today tomorrow yesterday tonight weekend eod eow eom midnight noon morning afternoon evening "
        "overnight"
    )},
    "q1": "quarter:1", "q2": "quarter:2", "q3": "quarter:3", "q4": "quarter:4",
}
_RELATIVE_PERIOD = re.compile(
    r"\b(next|last|this|past|previous|coming)\s+(week|month|quarter|year|sprint|release|day|days|weeks|months)\b"
)

#: Everyday request vocabulary. Other lower-case words are treated as specific terms (names,
#: products, components) that a cached answer must share, in the same order.
_COMMON = _wordset("""
a an the this that these those it its it's they them their there here he she him her his hers we us our
you your yours i me my mine who whom whose what which when where why how whether if then than so as
and or but also too either both all any each every some such other others another same own only just
very really quite rather much many lot lots few little bit enough about above across after again
against along among around at before behind below between beyond by down during for from in inside
into near of off on onto out outside over per since through throughout to toward towards under until
up upon via with within is are was were be been being am do does did done doing have has had having
can could will would shall should may might must need needs needed let lets let's get gets got getting
go goes going went make makes made making take takes took give gives gave giving given put keep keeps
please pls kindly thanks thank hi hello hey ok okay yes sure now still already yet ever soon currently
current today again just like want wants wanted wish mind help
ai assistant bot jira confluence atlassian
write writes wrote written writing draft drafts drafting compose composing prepare prepared send sends
sending sent reply replies replying respond responds response responses answer answers answering post
posting add adding note notes comment comments commenting email emails emailing mail message messages
letter memo update updates updating inform informing notify notifying tell telling let know ping reach
contact explain explaining explanation describe describing description outline outlining walk through
summarize summarise summarizing summarising summarized summarised summary summaries recap recapping
overview digest gist synopsis rundown roundup tl dr tldr highlights highlight key points point main
catch caught brief briefing fill filled condense condensed shorten rewrite rephrase reword redo revise
improve polish fix fixes fixed fixing
issue issues ticket tickets bug bugs task tasks story stories epic epics request requests incident
incidents problem problems item items case cases card thread threads discussion discussions
conversation conversations comment history activity progress status state situation details detail
context background information info facts decision decisions decided outcome outcomes result results
next steps step action actions items open questions question blockers blocker risk risks plan plans
root cause causes cause reason reasons why workaround workarounds solution solutions resolution
change changes changed version release releases deploy deployment fix patch rollback review reviewed
customer customers client clients user users vendor vendors supplier suppliers partner partners
stakeholder stakeholders management manager managers leadership executive executives team teams
colleague colleagues everyone everybody people folks developer developers devs engineer engineers
engineering support qa product owner reporter requester requestor assignee author watcher watchers
boss lead leads
delay delayed delays outage downtime incident impact impacted affected affecting error errors failure
failures failing fails failed broken crash crashes issue's ticket's
formal friendly concise apologetic polite professional casual warm neutral firm tone style
language english german french spanish italian portuguese dutch
short shorter brief briefly long longer detailed thorough quick quickly simple plain clear clearly
bullet bullets list lists table paragraph paragraphs points sentence sentences words line lines
new old latest recent previous earlier last first final whole entire full everything anything something
so far until now up to date meeting call sync standup week weeks month months day days hour hours
time date deadline eta timeline schedule estimate estimates
based including include includes included mention mentions mentioned regarding re concerning around
ask asking asked request requested say says said saying right away follow following ship ships shipped
apology apologize apologise apologies apologetic sorry regret
able about accept access account actually address agree ahead allow almost alone already alright
although always anyone anything anyway anywhere appear apply approach area aside assume attach attempt
available aware away back bad basic basically because become begin behalf believe best better big
both bring build built business busy call came care carry case certain certainly chance check
choose clarify close closely come comes coming common complete concern confirm consider continue
correct couldn't could've course cover create current daily deal dear different difficult direct
discuss doc docs document documentation does doesn't don't easy effort else end ensure even event
exactly example expect expected experience explain fact fair feel feedback figure find fine finish
focus follow-up forward found free general get give glad go good got great group guess handle
happen happened happening happens hard hear held here's high hold hope idea important including
instead interest involved isn't keep kind knew know known large later least left less let's level
likely line list little live look looked looking looks lose lot made main major make many matter
maybe mean means meant mind minor miss missing moment more most move much need needs new next nice
normal note nothing notice number often old once ongoing online only open order other otherwise
out over overall own part particular past pending perhaps person pick place plan point possible
possibly pretty probably proceed process proper properly provide pull quick quite raise read ready
real reason receive recent recently record related remain remaining remains remember report
reported reports reproduce reproduced reproducing reproduction require required rest return right
run running said same saw say second see seem seems seen sense separate set several share shared
short should shouldn't show side since small someone something sometimes soon sort sound specific
stand stands start started still stop stuff suggest suggestion suppose sure take talk team's tell
than that's them then there's thing things think thought together took top total track tried true
try trying turn understand understanding unless unclear usual usually value various wait want way
we'll we're we've well went what's whatever where's while who's whole will willing won't work
worked working works worry worth wrong you'd you'll you're you've yesterday's
""")

_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][\w'’-]*")
_ISSUE_KEY = re.compile(r"\b[A-Z][A-Z0-9_]{1,19}-\d+\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_URL = re.compile(r"https?://\S+")
_MENTION = re.compile(r"(?<![\w@])@[\w.-]+")
_QUOTED = re.compile(r"\"([^\"]{1,200})\"|“([^”]{1,200})”|(?<![\w])'([^']{1,200})'(?![\w])")
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*(?:st|nd|rd|th|am|pm|%|k|x)?", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"[.!?:;\n]")
_DETERMINERS = _wordset("this that which the each every any no another some one's")
_NOT_NAMES = _wordset("i ai ok okay jira fyi asap eod tldr tl dr re cc pls please thanks hi hey")


@dataclass(frozen=True)
class RequestFeatures:
    """What the guard compares in a request's text."""

    negations: frozenset[str]
    numbers: tuple[str, ...]
    names: tuple[str, ...]
    qualifiers: frozenset[str]


def _stem(word: str) -> str:
    """A crude plural/possessive stem: customers, customer's -> customer; stories -> story."""
    word = word.lower().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def _is_common(word: str) -> bool:
    """True for everyday request vocabulary, allowing simple inflections and hyphenated compounds."""
    if "-" in word:
        return all(_is_common(part) for part in word.split("-") if part)
    stem = _stem(word)
    candidates = {word, stem}
    for suffix, replacement in (("ed", ""), ("ed", "e"), ("d", ""), ("ing", ""), ("ing", "e"), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            candidates.add(word[: -len(suffix)] + replacement)
    return not candidates.isdisjoint(_COMMON)


def _first_seen(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


@functools.lru_cache(maxsize=4096)
def request_features(text: str) -> RequestFeatures:
    """Negations, numbers and dates, named things and qualifiers of a request text."""
    text = (text or "").replace("’", "'").replace("‘", "'")
    names: list[str] = []

    def take(pattern: re.Pattern[str], label: str, source: str) -> str:
        def grab(match: re.Match[str]) -> str:
            value = next((g for g in match.groups() if g), None) if match.groups() else None
            names.append(f"{label}:{(value or match.group(0)).strip().lower()}")
            return " , "

        return pattern.sub(grab, source)

    rest = take(_URL, "url", text)
    rest = take(_EMAIL, "email", rest)
    rest = take(_QUOTED, "quote", rest)
    rest = take(_ISSUE_KEY, "key", rest)
    rest = take(_MENTION, "at", rest)

    numbers = [m.group(0).lower().rstrip("%") for m in _NUMBER.finditer(rest)]
    lowered = rest.lower()
    numbers += [f"rel:{m.group(1)}_{m.group(2).rstrip('s')}" for m in _RELATIVE_PERIOD.finditer(lowered)]

    negations: list[str] = []
    qualifiers: set[str] = set()
    tokens = [(m.group(0), m.start()) for m in _WORD.finditer(rest)]
    lower = [t.lower() for t, _ in tokens]
    previous_end = 0
    for index, (token, start) in enumerate(tokens):
        sentence_start = index == 0 or bool(_SENTENCE_BREAK.search(rest, previous_end, start))
        previous_end = start + len(token)
        low = lower[index]
        if low in _NUMBER_WORDS and not (low == "one" and index and lower[index - 1] in _DETERMINERS):
            numbers.append(_NUMBER_WORDS[low])
        elif low in _DATE_WORDS and not (low == "may" and token == "may"):
            numbers.append(_DATE_WORDS[low])
        if low in _QUALIFIERS:
            qualifiers.add(_QUALIFIERS[low])
        if low in _NEGATION_WORDS or low.endswith("n't"):
            negations.append(_negated_word(lower, index))
        if _is_name(token, low, sentence_start):
            names.append(_stem(low))
    for match in _NEGATION_PHRASES.finditer(lowered):
        following = [t.lower() for t, s in tokens if s >= match.end()]
        negations.append(_negated_word(following, -1))
    return RequestFeatures(
        negations=frozenset(negations),
        numbers=_first_seen(numbers),
        names=_first_seen(names),
        qualifiers=frozenset(qualifiers),
    )


def _negated_word(lower: list[str], index: int) -> str:
    """The first content word after the negation at ``index`` (what is negated), or ``"*"``."""
    for word in lower[index + 1: index + 5]:
        if word in _NEGATION_WORDS or word in ("the", "a", "an", "to", "be", "any", "it", "this", "that",
                                                 "those", "these", "do", "does", "did", "include", "mention",
                                                 "out", "longer"):
            continue
        return _QUALIFIERS.get(word, _stem(word))
    return "*"


def _is_name(token: str, low: str, sentence_start: bool) -> bool:
    if low in _NOT_NAMES or low in _NUMBER_WORDS or low in _DATE_WORDS or low in _NEGATION_WORDS:
        return False
    if low.endswith("n't") or low in _QUALIFIERS:
        return False
    if token[:1].isupper() and not sentence_start:
        return True
    return not _is_common(low)


def _same(a: str | None, b: str | None) -> bool:
    return (a or "").strip().lower() == (b or "").strip().lower()


def same_request(a: CacheHint, b: CacheHint) -> tuple[bool, str]:
    """``(True, "same")`` when ``b`` may reuse the answer to ``a``, else ``(False, reason)``.

    Reasons: other_issue, issue_edited, other_prompt_version, other_recipient, other_tone,
    other_language, polarity, other_numbers, other_names, other_qualifiers.
    """
    if not _same(a.issue_key, b.issue_key):
        return False, "other_issue"
    if a.content_hash != b.content_hash or not a.content_hash:
        return False, "issue_edited"
    if a.prompt_version != b.prompt_version:
        return False, "other_prompt_version"
    if not _same(a.recipient, b.recipient):
        return False, "other_recipient"
    if not _same(a.tone, b.tone):
        return False, "other_tone"
    if not _same(a.language, b.language):
        return False, "other_language"
    fa, fb = request_features(a.request), request_features(b.request)
    if fa.negations != fb.negations:
        return False, "polarity"
    if fa.numbers != fb.numbers:
        return False, "other_numbers"
    if fa.names != fb.names:
        return False, "other_names"
    if fa.qualifiers != fb.qualifiers:
        return False, "other_qualifiers"
    return True, "same"
