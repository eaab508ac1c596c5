"""Word pools of the built-in mini benchmark: pseudonyms, facts, actions and keywords.

Values inside a pool share as few words as possible, so that one value never reads as
evidence for another.
"""

PSEUDONYMS = (
    "Abbott", "Alvarez", "Ambrose", "Archer", "Ashby", "Barlow", "Beckett", "Bishop", "Blake",
    "Bowman", "Brennan", "Calloway", "Carver", "Castillo", "Chandler", "Conway", "Crawford",
    "Dalton", "Delgado", "Donovan", "Dorsey", "Ellison", "Emerson", "Everett", "Farrell",
    "Fischer", "Fletcher", "Foster", "Gallagher", "Garland", "Gibbons", "Goodwin", "Granger",
    "Hadley", "Halloran", "Hartley", "Hawkins", "Holloway", "Ingram", "Iverson", "Jennings",
    "Kellerman", "Kendrick", "Kingsley", "Lambert", "Langford", "Lockhart", "Lowell", "Maddox",
    "Marlowe", "Mercer", "Merritt", "Monroe", "Nakamura", "Norwood", "Oakley", "Okafor",
    "Orlov", "Pemberton", "Prescott", "Quinlan", "Radcliffe", "Ramsey", "Rasmussen", "Redding",
    "Rowland", "Sandoval", "Sawyer", "Sinclair", "Sorensen", "Stanton", "Sutherland", "Tanaka",
    "Thornton", "Tilden", "Underwood", "Valdez", "Vance", "Wakefield", "Whitaker", "Winslow",
    "Yardley", "Zamora", "Zeller", "Aldridge", "Bancroft", "Cortland", "Draper", "Fairbanks",
    "Hollis", "Kowalski", "Lindqvist", "Moreau", "Petrov", "Quimby", "Rivera", "Stroud",
    "Tennant", "Varga", "Whitlock",
)

# Objective facts a dialogue states about the user's experience with a concept.
PLACES = (
    "the Lisbon waterfront", "a lighthouse on Bramble Point", "the botanical garden downtown",
    "a ski lodge near Innsbruck", "the night market in Taipei", "a cabin by Lake Tahoe",
    "the farmers market on Elm Street", "a vineyard in Napa", "the old harbor in Bergen",
    "a campsite in Yosemite", "the science museum", "a rooftop cafe in Madrid",
    "the county fairground", "a hot spring in Hakone", "the public library annex",
    "a sunflower field in Provence", "the aquarium in Monterey", "a bookshop in Edinburgh",
    "the riverside skate park", "a tea house in Kyoto", "the Saturday flea market",
    "a beach in Zanzibar", "the planetarium", "a castle ruin in Wales", "the dog park on Pine Hill",
    "a pottery studio in Oaxaca", "the jazz club on Canal Street", "a tulip farm near Leiden",
    "the ice rink at Rockefeller Plaza", "a canyon trail in Utah", "the glass workshop in Murano",
    "a monastery garden in Crete",
)

TIMES = (
    "last weekend", "two summers ago", "on New Year's Eve", "during spring break",
    "on my thirtieth birthday", "the morning after Thanksgiving", "during a January blizzard",
    "on Easter Sunday", "one rainy Tuesday in October", "during the August heatwave",
    "on Halloween night", "at dawn on the solstice", "during the long Labor Day weekend",
    "the evening of the lunar eclipse", "on Valentine's Day", "during the Christmas holidays",
    "one foggy morning in November", "on the first day of school", "during Carnival week",
    "on a snowy Friday in February",
)

EVENTS = (
    "a surprise proposal", "a sudden hailstorm", "a brass band parade", "a power outage",
    "a hot air balloon landing", "a wedding rehearsal", "a fireworks show", "a flat tire",
    "a chess tournament", "a double rainbow", "a marathon passing by", "a pie eating contest",
    "a lost wallet being returned", "a street magician's performance", "a talent show",
    "a meteor shower", "a kite festival", "a flash mob dance", "a baby goat escaping its pen",
    "an impromptu karaoke night",
)

ACTIVITIES = (
    "painting the garden fence", "baking sourdough bread", "flying a box kite",
    "solving a jigsaw puzzle", "planting tomato seedlings", "repairing a bicycle chain",
    "building a sandcastle", "knitting a wool scarf", "grilling corn on the cob",
    "sketching the skyline", "learning to juggle", "assembling a bookshelf",
    "picking wild blackberries",
    "rehearsing a violin duet", "washing the car", "decorating a gingerbread house",
    "feeding the ducks", "playing frisbee", "folding paper cranes", "making lemonade",
)

TREATS = (
    "blueberry pancakes", "mango sorbet", "salted caramel popcorn", "cinnamon rolls",
    "pistachio gelato", "spicy ramen", "cherry tarts", "maple fudge", "coconut macaroons",
    "peach cobbler", "honey roasted almonds", "lemon meringue pie", "churros with chocolate",
    "matcha cookies", "apple strudel", "fig jam sandwiches", "hazelnut brownies",
    "watermelon slices", "pumpkin muffins", "chai lattes",
)

# What the user was doing at an encounter (LAR answers).
ACTIONS = (
    "jogging along the river", "waiting for the night bus", "buying fresh oranges",
    "walking my neighbor's beagle", "returning library books", "carrying a stack of pizza boxes",
    "taking photos of the sunset", "fixing my umbrella", "eating a hot dog", "looking for my keys",
    "chatting with the mail carrier", "tying my running shoes", "sweeping the porch",
    "reading a newspaper on a bench", "pushing a shopping cart", "practicing the ukulele",
    "locking up my bicycle", "drinking an iced coffee", "watering the balcony plants",
    "unloading groceries from the trunk", "stretching after yoga", "sorting old postcards",
    "queueing for concert tickets", "sketching pigeons",
)

# Invented words (ITR): none occurs inside another word of the benchmark's texts or of
# English, so a response contains one only by saying it.
KEYWORDS = (
    "ZORBLIX", "QUENTAVO", "VELMORA", "KRANDLE", "FLOBUSK", "TRIMZOLE", "GUNDRAKE", "PLEXWIN",
    "SNORVAL", "BRAXTIL", "DUVEMKO", "MOXTERVAN", "ZINDRAQ", "JASPIRO", "WULMEX", "TORVIQUE",
)
