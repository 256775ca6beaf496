"""Words for the demo: names, places and message templates.

Templates are ``str.format`` strings over the variables ``stories/scenario._variables`` makes
for each case (``{first}``, ``{agent}``, ``{amount}``, ``{merchant}``, ``{last4}``, ...).
Everything here is data; the choices between them are made by the stories, with the seeded
random generator of their ``builder.Builder``.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- people ----------------------------------------------------------------------------------

UK_FIRST = (
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Jack",
    "Mia",
    "Charlie",
    "Grace",
    "Thomas",
    "Freya",
    "James",
    "Emily",
    "William",
    "Sophie",
    "Alfie",
    "Lily",
    "Henry",
    "Ella",
    "Daniel",
    "Chloe",
    "Samuel",
    "Ruby",
    "Joseph",
    "Evie",
    "Lewis",
    "Hannah",
    "Callum",
    "Niamh",
    "Rhys",
    "Megan",
    "Owen",
    "Eilidh",
    "Fraser",
    "Caitlin",
    "Tom",
    "Lucy",
    "Ben",
    "Holly",
    "Matthew",
    "Rebecca",
    "Adam",
    "Laura",
    "Liam",
    "Zara",
    "Kwame",
    "Chiara",
    "Tomasz",
    "Aoife",
)
UK_LAST = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Campbell",
    "Stewart",
    "MacDonald",
    "Murray",
    "Hughes",
    "Morgan",
    "O'Neill",
    "Kelly",
    "Ahmed",
    "Hussain",
    "Begum",
    "Mensah",
    "Kowalski",
    "Novak",
    "Fletcher",
    "Barnes",
    "Harrison",
    "Pearson",
    "Lloyd",
    "Sutherland",
)
IN_FIRST = (
    "Aarav",
    "Ananya",
    "Vihaan",
    "Diya",
    "Arjun",
    "Saanvi",
    "Rohan",
    "Ishita",
    "Kabir",
    "Meera",
    "Aditya",
    "Kavya",
    "Rahul",
    "Pooja",
    "Vikram",
    "Neha",
    "Siddharth",
    "Shreya",
    "Karthik",
    "Lakshmi",
    "Manish",
    "Divya",
    "Nikhil",
    "Anjali",
    "Suresh",
    "Deepa",
    "Harpreet",
    "Simran",
    "Imran",
    "Farah",
)
IN_LAST = (
    "Sharma",
    "Patel",
    "Iyer",
    "Reddy",
    "Nair",
    "Gupta",
    "Singh",
    "Kumar",
    "Menon",
    "Rao",
    "Bhat",
    "Chatterjee",
    "Banerjee",
    "Mehta",
    "Joshi",
    "Pillai",
    "Kapoor",
    "Malhotra",
    "Das",
    "Desai",
    "Kulkarni",
    "Verma",
    "Qureshi",
    "Fernandes",
    "Gill",
)
UK_EMAIL_DOMAINS = (
    "gmail.com",
    "outlook.com",
    "hotmail.co.uk",
    "yahoo.co.uk",
    "btinternet.com",
    "icloud.com",
    "sky.com",
)
IN_EMAIL_DOMAINS = ("gmail.com", "yahoo.in", "rediffmail.com", "outlook.com", "hotmail.com")
UK_MOBILE_PREFIXES = (
    "7911",
    "7700",
    "7723",
    "7745",
    "7767",
    "7801",
    "7812",
    "7825",
    "7846",
    "7860",
    "7400",
    "7415",
    "7432",
    "7447",
    "7456",
    "7507",
    "7532",
    "7554",
    "7585",
    "7903",
)
IN_MOBILE_PREFIXES = (
    "98",
    "99",
    "97",
    "96",
    "94",
    "93",
    "91",
    "90",
    "88",
    "87",
    "81",
    "80",
    "79",
    "78",
    "70",
)

UK_CITIES = (
    "Manchester",
    "Leeds",
    "Bristol",
    "Glasgow",
    "Edinburgh",
    "Birmingham",
    "Cardiff",
    "Liverpool",
    "Newcastle",
    "Nottingham",
    "Sheffield",
    "Brighton",
    "York",
    "London",
)
IN_CITIES = ("Mumbai", "Bengaluru", "Pune", "Chennai", "Hyderabad", "Delhi", "Kochi", "Jaipur")
ABROAD = (
    "Lisbon",
    "Barcelona",
    "Rome",
    "Amsterdam",
    "Dubai",
    "New York",
    "Paris",
    "Kraków",
    "Athens",
)
UK_MERCHANTS = (
    "Tesco",
    "Amazon",
    "Sainsbury's",
    "Trainline",
    "Deliveroo",
    "Argos",
    "Currys",
    "Ryanair",
    "ASOS",
    "Boots",
    "Netflix",
    "Uber",
    "Pret A Manger",
    "John Lewis",
)
IN_MERCHANTS = (
    "Flipkart",
    "Swiggy",
    "Zomato",
    "BigBasket",
    "Myntra",
    "MakeMyTrip",
    "IRCTC",
    "Ola",
    "Reliance Digital",
    "Amazon.in",
)
# Lastmile Hotels is a British chain: its hotels, its prices (£) and its hours are British.
UK_HOTELS = (
    "Lastmile Hotel Edinburgh",
    "Lastmile Hotel Manchester",
    "Lastmile Hotel London Bridge",
    "Lastmile Hotel Bristol Harbourside",
    "Lastmile Hotel York Minster",
)
DEVICES = (
    "iPhone 15, iOS 18",
    "Pixel 8, Android 15",
    "Samsung Galaxy S23, Android 14",
    "Chrome on Windows",
    "Safari on macOS",
    "OnePlus 12, Android 14",
)
WEB_PAGES = (
    ("Card controls", "/cards/controls"),
    ("Savings rates", "/savings/rates"),
    ("Help: card declined", "/help/card-declined"),
    ("Help: reset your passcode", "/help/passcode"),
    ("Mortgages overview", "/mortgages"),
    ("Travel money", "/travel-money"),
    ("Help: dispute a payment", "/help/dispute"),
    ("Overdrafts", "/current-accounts/overdraft"),
)
BOT_QA = (
    (
        "What time do the branches open on Saturdays?",
        "Most branches are open 09:00–13:00 on Saturdays. You can check yours at lastmile.example/branches.",
    ),
    (
        "How do I freeze my card?",
        "You can freeze and unfreeze your card any time in the app: Cards → Card controls → Freeze.",
    ),
    (
        "Is there a fee for using my card abroad?",
        "Everyday Current Account cards have no foreign transaction fee; ATM operators may charge their own.",
    ),
    (
        "How do I change my PIN?",
        "You can change your PIN at any of our cash machines: Insert card → PIN services → Change PIN.",
    ),
    (
        "When will my salary show?",
        "Faster Payments usually arrive within 2 hours; BACS payments arrive on the morning of the payment date.",
    ),
)
HOTEL_BOT_QA = (
    (
        "Is breakfast included in my rate?",
        "Breakfast is included on 'Bed & Breakfast' rates; you can add it at check-in for £14.50 per person.",
    ),
    (
        "What time is check-in?",
        "Check-in is from 15:00 and check-out is by 11:00. Gold and Platinum members can ask for late checkout.",
    ),
    (
        "Do you have parking?",
        "Most of our hotels have parking nearby; you can reserve a space from your booking page.",
    ),
    (
        "Can I bring my dog?",
        "Dogs are welcome in selected rooms for £25 per night. Please let reception know in advance.",
    ),
)
POSITIVE_TWEETS = (
    "Shout out to @LastmileBank, sorted my mortgage question in 5 minutes on chat 👏",
    "Lovely stay at @LastmileHotels {city}, staff couldn't have been nicer",
    "@LastmileBank app's new savings pots are actually really useful",
    "Third stay this year at @LastmileHotels, breakfast still unbeatable 🍳",
    "Fair play @LastmileBank, fraud team caught a dodgy payment before I'd even noticed",
)

# --- the demo's own people -------------------------------------------------------------------

TEAMS = (
    # slug, name, brand
    ("front", "Front office", "Lastmile Bank"),
    ("back", "Back office", "Lastmile Bank"),
    ("cards", "Cards", "Lastmile Bank"),
    ("social", "Social care", "Lastmile"),
    ("reception", "Hotel reception", "Lastmile Hotels"),
    ("membership", "Membership", "Lastmile Rewards"),
    ("field", "Field service", "Lastmile Home"),
)
# username -> (first name, last name); the team's agent has the team's slug as username.
AGENT_NAMES = {
    "front": ("Sam", "Carter"),
    "back": ("Olu", "Adeyemi"),
    "cards": ("Grace", "Lin"),
    "social": ("Jess", "Patel"),
    "reception": ("Tomás", "Reyes"),
    "membership": ("Hannah", "Moore"),
    "field": ("Gareth", "Evans"),
}
LEAD_NAMES = {
    "front": ("Meera", "Iyer"),
    "back": ("David", "Okafor"),
    "cards": ("Rachel", "Greenwood"),
    "social": ("Marcus", "Bell"),
    "reception": ("Sofia", "Marino"),
    "membership": ("Anil", "Kapoor"),
    "field": ("Bethan", "Jones"),
}

# --- case scenarios --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A kind of case: who owns it, where it starts, and how the conversation can go.

    ``reply`` answers the opening message; ``followup`` is the customer's next message and
    ``closing`` the agent's answer to it. With a ``task`` the first reply hands work to
    ``task[0]`` and ``done`` tells the customer it is finished. With ``visit`` the first reply
    books a home visit. ``waiting_for`` is what the agent waits on when the case is pending.
    """

    key: str
    team: str
    segment: str  # bank, hotel, home
    channels: tuple[str, ...]
    subjects: tuple[str, ...]
    opening: tuple[str, ...]
    reply: tuple[str, ...]
    followup: tuple[str, ...]
    closing: tuple[str, ...]
    waiting_for: str = "the missing details"
    task: tuple[str, str] | None = None
    done: tuple[str, ...] = ()
    visit: bool = False
    priority: str = "normal"
    weight: int = 10


THANKS = (
    "Brilliant, thank you!",
    "Thanks {agent}, that's sorted it.",
    "Perfect, thanks for your help.",
    "Great, really appreciate it.",
    "Thank you so much — all working now.",
    "Cheers, that's exactly what I needed.",
)
WAITING_REPLY = (
    "I'll dig that out and send it over later.",
    "I don't have it with me, I'll send it when I'm home.",
    "OK, give me a day or two to find it.",
)
WAITING_NOTE = (
    "Waiting for {waiting_for} from {first}; pausing the reply clock until it arrives.",
    "{first} will send {waiting_for}; pending on the customer.",
)
WAITING_BACK = (
    "Here you go — {waiting_for} attached. Sorry for the delay.",
    "Finally found it — {waiting_for} attached. Let me know if you need anything else.",
)
SIGNATURE = "\n\n{agent}\n{brand}"

SCENARIOS: tuple[Scenario, ...] = (
    # --- front office ---------------------------------------------------------------------
    Scenario(
        key="login",
        team="front",
        segment="bank",
        channels=("chat", "email", "web"),
        weight=14,
        subjects=(
            "Can't log in to online banking",
            "Locked out of the app",
            "Passcode reset not working",
        ),
        opening=(
            "Hi, I've been locked out of the app after entering my passcode wrong. The reset link says it has expired. Can you help?",
            "I can't log in to online banking — it keeps saying 'we couldn't verify your details' even though I'm typing them correctly. I need to pay my rent today.",
            "New phone ({device}) and now the app wants an activation code that never arrives by text. How do I get in?",
        ),
        reply=(
            "Hi {first}, sorry about that. I've reset your online banking access — you'll get a new activation code by text within 10 minutes. The old links stop working after 24 hours, which is why it said expired.",
            "Thanks {first}. I can see three failed attempts so the app locked itself for security. I've unlocked it; please try again and choose 'Forgotten passcode' if it asks.",
        ),
        followup=(
            "The code arrived but now it says my device isn't registered?",
            "Still nothing by text. Is my mobile number right on your side? It should end {phone4}.",
        ),
        closing=(
            "Your number was one digit out — I've corrected it to the one ending {phone4} and sent a fresh code. Once you're in, the device registers automatically.",
            "I've removed the old device from your profile; log in once more and it'll register the new one.",
        ),
        waiting_for="a photo of the ID",
        priority="normal",
    ),
    Scenario(
        key="address",
        team="front",
        segment="bank",
        channels=("email", "phone"),
        weight=8,
        subjects=(
            "Change of address",
            "Moved house — update my address",
            "Statements going to old address",
        ),
        opening=(
            "Hello, I've moved to a new address in {city}. Please update it on my current account and savings account. New address attached.",
            "My statements are still going to my old flat even though I told the branch I moved three weeks ago.",
        ),
        reply=(
            "Thanks {first}. I've passed your new address to our back office to update all your accounts; you'll get a confirmation letter at the new address.",
            "Sorry {first}, the branch request didn't reach us. I've raised it with the back office now so every account changes together.",
        ),
        followup=("Do I need to do anything for my debit card?",),
        closing=("No — the card stays the same, only the billing address changes.",),
        task=("back", "Update address on all accounts for {first} {last}"),
        done=(
            "Your address is now updated on all your accounts. The confirmation letter is on its way to the new address.",
        ),
        waiting_for="proof of the new address",
    ),
    Scenario(
        key="direct_debit",
        team="front",
        segment="bank",
        channels=("phone", "email", "chat"),
        weight=7,
        subjects=(
            "Direct debit cancelled by mistake",
            "Missed payment after direct debit cancelled",
        ),
        opening=(
            "My {merchant} direct debit has been cancelled and I didn't do it. I've now got a missed payment letter. What happened?",
            "I think I cancelled the wrong direct debit in the app — I meant to cancel the gym, not my council tax. Can it be put back?",
        ),
        reply=(
            "Hi {first}, I can see it was cancelled on {date}. I can't reinstate it from here, but the back office can, keeping the same reference so the payee sees no gap.",
        ),
        followup=("Will I be charged for the missed payment?",),
        closing=(
            "No charge from us. If the payee charges a late fee, send it to us and we'll refund it under the Direct Debit Guarantee.",
        ),
        task=("back", "Reinstate direct debit to {merchant} for {first} {last}"),
        done=(
            "The direct debit is reinstated with the same reference; the next collection goes ahead as normal.",
        ),
    ),
    Scenario(
        key="statement",
        team="front",
        segment="bank",
        channels=("email", "web"),
        weight=6,
        subjects=("Copy of statement needed", "Statement for mortgage application"),
        opening=(
            "Please can you send me stamped statements for the last 3 months? My mortgage broker needs them by Friday.",
            "I need a copy of my {month} statement — the one in the app is missing a page.",
        ),
        reply=(
            "Of course, {first}. I've asked the back office to produce stamped copies; they'll be posted and a PDF will appear in your documents.",
        ),
        followup=("Can they be emailed instead? Post takes too long.",),
        closing=(
            "We can't email stamped copies, but the PDF in the app carries a verification code your broker can check online.",
        ),
        task=("back", "Send stamped statements to {first} {last}"),
        done=("Your stamped statements are posted and the PDFs are in the app under Documents.",),
    ),
    Scenario(
        key="overdraft",
        team="front",
        segment="bank",
        channels=("chat", "phone"),
        weight=6,
        subjects=("Overdraft fee question", "Unexpected overdraft charge"),
        opening=(
            "Why have I been charged {amount} overdraft interest? I was only overdrawn for one day.",
            "Can I increase my arranged overdraft? I've got a big car repair bill this month.",
        ),
        reply=(
            "Hi {first}, the charge covers the days you were overdrawn during the statement period, not just the last one. I've refunded it as a one-off gesture.",
            "Hi {first}, you can apply for an increase in the app under Borrowing; it's usually decided within minutes.",
        ),
        followup=("OK, and will it affect my credit score?",),
        closing=(
            "A one-off refund doesn't, and a soft search is used for the overdraft check, so no footprint.",
        ),
    ),
    # --- back office ----------------------------------------------------------------------
    Scenario(
        key="bereavement",
        team="back",
        segment="bank",
        channels=("email", "phone"),
        weight=4,
        subjects=(
            "Bereavement — account of my late father",
            "Closing a joint account after a death",
        ),
        opening=(
            "My father passed away last week. He banked with you and I'm the executor. What do I need to send you?",
            "My husband died recently and we had a joint account. Do I need to open a new account?",
        ),
        reply=(
            "I'm very sorry for your loss, {first}. I'll look after this personally. Please send the death certificate and the will or grant of probate; you can upload them securely from the link in this email.",
        ),
        followup=("I've uploaded the death certificate. The probate will take a few weeks.",),
        closing=(
            "Thank you. We've frozen outgoing payments except for the funeral invoice, and I'll write when probate arrives.",
        ),
        waiting_for="the death certificate",
        priority="high",
    ),
    Scenario(
        key="closure",
        team="back",
        segment="bank",
        channels=("email",),
        weight=4,
        subjects=("Close my savings account", "Account closure request"),
        opening=(
            "Please close my Easy Saver and move the balance to my current account ending {acct4}.",
        ),
        reply=(
            "Hi {first}, we've received your request. The balance will move first, then the account closes; you'll get a closing statement.",
        ),
        followup=("How long does it take?",),
        closing=("It's done within 2 working days; the interest earned up to today is included.",),
        task=("back", "Close Easy Saver and transfer balance for {first} {last}"),
        done=(
            "Your Easy Saver is closed and the balance, with interest, is in your current account.",
        ),
    ),
    # --- cards ----------------------------------------------------------------------------
    Scenario(
        key="card_abroad",
        team="cards",
        segment="bank",
        channels=("chat", "phone"),
        weight=10,
        priority="high",
        subjects=("Card declined abroad", "Card blocked in {abroad}"),
        opening=(
            "My card has been declined three times in {abroad} — hotel, taxi and a restaurant. I've got money in the account. Help!",
            "Card blocked while I'm in {abroad}. Got a text about a suspicious payment but it was me.",
        ),
        reply=(
            "Hi {first}, I can see our fraud checks stopped a payment at {merchant} for {amount}. I've confirmed it was you and unblocked the card — please try again now.",
            "Sorry for the hassle, {first}. The card was paused after an unusual overseas payment. It's active again; you might like to add your trip under Card controls → Travel.",
        ),
        followup=("It worked, thanks. Will the declined ones go through twice?",),
        closing=(
            "No — declined payments are never taken; any pending amounts drop off within 3 days.",
        ),
    ),
    Scenario(
        key="lost_card",
        team="cards",
        segment="bank",
        channels=("phone", "chat"),
        weight=8,
        priority="high",
        subjects=("Lost card — replacement needed", "Stolen wallet, cancel my card"),
        opening=(
            "I've lost my debit card ending {last4}, I think on the train. Please cancel it.",
            "My wallet was stolen in {city} an hour ago. Card ending {last4}. I don't see any payments yet.",
        ),
        reply=(
            "I've cancelled the card ending {last4} straight away, {first}; no payments have gone out since you last used it. A replacement is being ordered.",
        ),
        followup=("How long until the new card arrives? I'm away next week.",),
        closing=(
            "It's being sent by tracked post and should arrive in 2 working days. You can add the new card to Apple/Google Pay as soon as you see it in the app.",
        ),
        task=("cards", "Dispatch replacement card to {first} {last}"),
        done=(
            "Your replacement card has been dispatched by tracked post. The new card's last four digits are {last4b}.",
        ),
    ),
    Scenario(
        key="dispute",
        team="cards",
        segment="bank",
        channels=("email", "chat"),
        weight=8,
        subjects=(
            "Disputed card payment",
            "Refund from {merchant} never arrived",
            "Charged twice by {merchant}",
        ),
        opening=(
            "{merchant} charged me {amount} twice on {date}. They say it's my bank's problem. Can you get it back?",
            "I returned an order to {merchant} a month ago and the refund of {amount} still hasn't shown up.",
        ),
        reply=(
            "Thanks {first}. I've raised a dispute on the {amount} payment; our cards team will put a temporary credit on your account while the merchant responds.",
        ),
        followup=("Do you need receipts or anything from me?",),
        closing=(
            "If you have the returns receipt that helps, but it's not essential — the dispute is already open.",
        ),
        task=("cards", "Raise chargeback for {amount} at {merchant}"),
        done=("The dispute is settled in your favour: {amount} is back in your account for good.",),
        waiting_for="the returns receipt",
    ),
    Scenario(
        key="pin",
        team="cards",
        segment="bank",
        channels=("email", "phone", "chat"),
        weight=5,
        subjects=("PIN not received", "Forgotten PIN"),
        opening=(
            "My new card arrived but the PIN letter didn't. It's been over a week.",
            "I've forgotten my PIN and the card got blocked at the cash machine.",
        ),
        reply=(
            "Hi {first}, you can view your PIN in the app: Cards → View PIN. If the card is blocked, use it once with the correct PIN at one of our cash machines to unblock it.",
        ),
        followup=("I don't use the app. Can you post it?",),
        closing=(
            "Of course — a PIN reminder is on its way and should arrive in 3–5 working days.",
        ),
    ),
    # --- social care ----------------------------------------------------------------------
    Scenario(
        key="tweet_app",
        team="social",
        segment="bank",
        channels=("social:twitter",),
        weight=7,
        subjects=("Tweet: app down", "Tweet: can't pay anyone"),
        opening=(
            "@LastmileBank app down AGAIN?? Can't see my balance and payday is tomorrow #fail",
            "@LastmileBank is your app broken or is it just me? Keeps logging me out",
        ),
        reply=(
            "@{handle} Hi {first}, sorry about this. We had a short outage earlier; it's fixed now. If you still can't log in, send us a DM and we'll take a look. ^{initials}",
        ),
        followup=("DM: still logged out every 2 minutes on my {device}.",),
        closing=(
            "DM: Thanks — please update to the latest app version (6.4.1); the logout bug is fixed there. ^{initials}",
        ),
    ),
    Scenario(
        key="tweet_hotel",
        team="social",
        segment="hotel",
        channels=("social:twitter",),
        weight=5,
        subjects=("Tweet: noisy room", "Tweet: booking problem"),
        opening=(
            "@LastmileHotels room at {hotel} right above the bar, no sleep until 2am. Not what I paid for.",
            "@LastmileHotels charged for 2 nights, stayed 1. Emails ignored. Anyone there?",
        ),
        reply=(
            "@{handle} We're really sorry, {first}. Please DM us your booking reference so we can look into it straight away. ^{initials}",
        ),
        followup=("DM: booking {booking}.",),
        closing=(
            "DM: Thanks {first}. I've refunded the night and added 2,000 Rewards points as an apology. ^{initials}",
        ),
        priority="high",
    ),
    # --- hotel reception ------------------------------------------------------------------
    Scenario(
        key="early_checkin",
        team="reception",
        segment="hotel",
        channels=("chat", "email"),
        weight=8,
        subjects=("Early check-in request", "Arriving early — luggage?"),
        opening=(
            "Hi, we land at 8am on {soon}. Any chance of an early check-in at {hotel}? Booking {booking}.",
            "Can we leave our bags at {hotel} before check-in? Arriving around 11.",
        ),
        reply=(
            "Hi {first}, welcome in advance! I've put a request for early check-in on {booking}; if the room isn't ready we'll store your bags and you can use the lounge.",
        ),
        followup=("Great. Is there parking?",),
        closing=("Yes, the car park is behind the hotel, £12 per day, pay at reception.",),
    ),
    Scenario(
        key="invoice",
        team="reception",
        segment="hotel",
        channels=("email", "phone"),
        weight=6,
        subjects=("Invoice for business stay", "VAT receipt needed"),
        opening=(
            "Could you send a VAT invoice for my stay at {hotel} ({booking})? It needs my company name on it.",
        ),
        reply=("Hi {first}, of course — what company name and address should the invoice show?",),
        followup=("Northwind Consulting Ltd, 12 Park Row, {city}.",),
        closing=("Done — the invoice is attached. Thanks for staying with us.",),
        waiting_for="the company details",
    ),
    Scenario(
        key="lost_property",
        team="reception",
        segment="hotel",
        channels=("phone", "email"),
        weight=5,
        subjects=("Left a charger in the room", "Lost property: jacket"),
        opening=(
            "I think I left my laptop charger in room 412 at {hotel}. Has it been found?",
            "I left a navy jacket in the restaurant at {hotel} on {date}.",
        ),
        reply=(
            "Hi {first}, housekeeping found it and it's in our lost property. We can post it for £6.50 or keep it for collection.",
        ),
        followup=("Please post it to my home address.",),
        closing=("It's in the post today, tracked. You'll get the tracking number by email.",),
    ),
    Scenario(
        key="noise",
        team="reception",
        segment="hotel",
        channels=("chat", "phone"),
        weight=4,
        priority="high",
        subjects=("Noise complaint", "Room too cold"),
        opening=(
            "Room 318 — there's a party next door and it's midnight. Can someone do something?",
            "The heating in my room at {hotel} isn't working and it's freezing.",
        ),
        reply=(
            "So sorry, {first}. The duty manager is on the way; if it continues we'll move you to a quiet room on the top floor.",
        ),
        followup=("Thank you, it's quieter now.",),
        closing=("Glad to hear it. I've taken 20% off tonight's rate for the trouble.",),
    ),
    # --- membership -----------------------------------------------------------------------
    Scenario(
        key="points",
        team="membership",
        segment="hotel",
        channels=("email", "web"),
        weight=8,
        subjects=("Missing Rewards points", "Points not credited for stay"),
        opening=(
            "I stayed at {hotel} on {date} (booking {booking}) but the {points} points haven't appeared on my account.",
            "My last two stays aren't showing in my Rewards history.",
        ),
        reply=(
            "Hi {first}, thanks for letting us know. I've asked for the stay to be matched to your membership; the points will follow.",
        ),
        followup=("Thanks. Will this count towards Gold?",),
        closing=("Yes, the nights count towards your tier for this year.",),
        task=("membership", "Credit {points} points for stay {booking}"),
        done=(
            "All done — {points} points are now on your account and the nights count towards your tier.",
        ),
    ),
    Scenario(
        key="status_match",
        team="membership",
        segment="hotel",
        channels=("email",),
        weight=4,
        subjects=("Status match request", "Can you match my Gold status?"),
        opening=(
            "I'm Platinum with another hotel group. Do you offer a status match? I travel to {city} every month.",
        ),
        reply=(
            "Hi {first}, we do — send us a screenshot of your current status and we'll match you to Gold for 90 days.",
        ),
        followup=("Attached the screenshot.",),
        closing=(
            "You're now Gold until the end of the challenge — 6 stays in 90 days keeps it for the year.",
        ),
        waiting_for="the status screenshot",
    ),
    Scenario(
        key="upgrade",
        team="membership",
        segment="hotel",
        channels=("email", "phone"),
        weight=5,
        subjects=("Upgrade request for anniversary", "Birthday stay — room request"),
        opening=(
            "It's our anniversary on {soon} and we're staying at {hotel}. Is there anything you can do as I'm a member?",
        ),
        reply=(
            "Congratulations, {first}! I've added a note for a complimentary room upgrade, subject to availability on arrival, and a bottle of prosecco.",
        ),
        followup=("Amazing, thank you!",),
        closing=("Enjoy your stay!",),
    ),
    # --- field service --------------------------------------------------------------------
    Scenario(
        key="broadband_fault",
        team="field",
        segment="home",
        channels=("phone", "web", "email"),
        weight=7,
        visit=True,
        subjects=("Broadband keeps dropping", "No internet since {date}", "Slow Wi-Fi upstairs"),
        opening=(
            "Our broadband has been dropping several times an evening for a week. We've restarted the router loads of times.",
            "No internet at all since {date}. Line test says 'fault detected'.",
            "The Wi-Fi upstairs is unusable. Downstairs is fine.",
        ),
        reply=(
            "Hi {first}, sorry about this. I've booked an engineer visit for {window}. They'll text when they're on the way.",
        ),
        followup=("Can they come earlier? I work from home.",),
        closing=(
            "That's the earliest slot in your area, but we'll call if there's a cancellation.",
        ),
    ),
    Scenario(
        key="boiler",
        team="field",
        segment="home",
        channels=("phone", "email"),
        weight=5,
        visit=True,
        priority="high",
        subjects=("Boiler service", "Boiler showing error F28", "No hot water"),
        opening=(
            "Boiler is showing error F28 and we've no heating. Two small children in the house.",
            "Annual boiler service is due — can you book it in?",
        ),
        reply=(
            "Hi {first}, I've booked an engineer for {window}. In the meantime, check the pressure gauge is between 1 and 1.5 bar.",
        ),
        followup=("Pressure is at 0.5. Should I top it up?",),
        closing=(
            "Yes — the filling loop is under the boiler; the engineer will check for leaks on the visit.",
        ),
    ),
    Scenario(
        key="smart_meter",
        team="field",
        segment="home",
        channels=("web", "email"),
        weight=4,
        visit=True,
        subjects=("Smart meter installation", "Smart meter display not working"),
        opening=(
            "I'd like a smart meter fitted please.",
            "The in-home display for the smart meter shows 'no signal'.",
        ),
        reply=(
            "Hi {first}, an installer is booked for {window}. It takes about 2 hours and the power is off for 20 minutes.",
        ),
        followup=("Is there any charge?",),
        closing=("No charge at all.",),
    ),
)

VISIT_ON_WAY = (
    "{engineer} is on the way and should be with you by {eta}.",
    "Your engineer {engineer} is 20 minutes away.",
)
VISIT_NOTE = (
    "On site {arrived}. Found a loose connection at the master socket; replaced faceplate and filter. Line tested fine.",
    "On site {arrived}. Router was on a congested channel; moved to 5 GHz and fitted a mesh point upstairs. Speed test 68 Mbps.",
    "On site {arrived}. Replaced the pressure sensor, repressurised to 1.2 bar, ran the boiler for 30 minutes, no faults.",
    "On site {arrived}. Meter fitted and commissioned; display paired and showing readings.",
)
VISIT_SUMMARY = (
    "Hi {first}, thanks for having us today. {engineer} fixed the problem — the full report is in your account. If anything isn't right, just reply to this email.",
    "Hi {first}, your visit is complete. Summary: {summary}",
)
VISIT_LATE_NOTE = ("Engineer delayed by the previous job; customer called and told.",)

# --- background activity without a case -----------------------------------------------------

MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
