//! Words the generator builds text from. Invented for pinpipe; a few are non-ASCII on purpose
//! (Cyrillic, accents, emoji, full-width forms), as real pins are.

pub const ADJECTIVES: &[&str] = &[
    "Easy", "Simple", "Beautiful", "Cozy", "Modern", "Vintage", "Creative", "Minimalist", "Rustic",
    "Bold", "Cute", "Elegant", "Quick", "Budget", "Colorful", "Classic", "Unique", "Stunning",
    "Last-Minute", "Handmade", "Festive", "Dreamy", "Smart", "Timeless",
];

pub const OPENERS: &[&str] = &[
    "25", "10", "50", "15", "The Best", "Our Favourite", "How to Make", "12", "30", "DIY", "7",
];

pub const AUDIENCES: &[&str] = &[
    "for Kids", "for Beginners", "for Small Spaces", "for Men", "on a Budget", "for the Holidays",
    "for Every Season", "You Will Love", "to Try This Year", "at Home", "for Students",
];

/// Nouns per category, in the order of `CATEGORIES`.
pub const NOUNS: [&[&str]; 13] = [
    &["Watercolor Paintings", "Sketchbook Ideas", "Abstract Art", "Acrylic Pours", "Line Drawings"],
    &["Makeup Looks", "Nail Designs", "Skincare Routines", "Hairstyles", "Eyeshadow Palettes"],
    &["Christmas Ornaments", "Advent Calendars", "Wreaths", "Gift Ideas", "Tree Toppers"],
    &["Summer Crafts", "Paper Flowers", "Mason Jar Projects", "Yarn Crafts", "Felt Animals"],
    &["Classroom Activities", "Math Worksheets", "Reading Lists", "Study Tips", "Science Projects"],
    &["Party Themes", "Wedding Centerpieces", "Baby Shower Games", "Birthday Cakes", "Table Settings"],
    &["Budget Plans", "Saving Challenges", "Side Hustles", "Debt Snowballs", "Money Tips"],
    &["Living Rooms", "Gallery Walls", "Bedroom Makeovers", "Kitchen Shelves", "Entryway Ideas"],
    &["Outfits", "Sneakers", "Suits", "Watches", "Street Style Looks"],
    &["Quotes", "Motivational Sayings", "Love Quotes", "Life Lessons", "Morning Affirmations"],
    &["Tattoos", "Sleeve Designs", "Fine Line Tattoos", "Small Tattoos", "Floral Tattoos"],
    &["Travel Destinations", "Road Trips", "Packing Lists", "Hidden Beaches", "City Breaks"],
    &["Classic Cars", "Muscle Cars", "Motorcycles", "Truck Builds", "Camper Vans"],
];

/// Sentences descriptions are made of.
pub const SENTENCES: &[&str] = &[
    "Keep the kids busy this summer with these easy projects.",
    "Everything you need to know to get started, step by step.",
    "Save this pin for later and share it with a friend!",
    "We tried them all so you don't have to.",
    "A quick guide with free printables at the end.",
    "Perfect for a cozy weekend at home.",
    "Get inspired by these gorgeous ideas.",
    "Looking for something different? Start here.",
    "Follow for more ideas every week.",
    "Small changes that make a big difference.",
    "Our readers' favourites, updated for this year.",
    "Click through for the full tutorial and supply list.",
];

/// Text in other scripts and symbols: titles and descriptions use these now and then.
pub const NON_ASCII: &[&str] = &[
    "Новогодний декор своими руками",
    "Идеи для подарков",
    "Café au lait ☕",
    "Schöne Grüße aus München",
    "✨ Magic ✨",
    "🎄🎁",
    "Déco bohème",
    "Size:48ｘ18cm",
    "Año nuevo, vida nueva",
    "💪 Motivation",
    "日本の旅",
];

pub const POSTER_WORDS: &[&str] = &[
    "Studio", "Home", "Life", "Daily", "Journal", "Design", "Corner", "Collective", "Lab", "Club",
    "Diaries", "Co.", "Blog", "Magazine", "Shop",
];

pub const POSTER_TOPICS: &[&str] = &[
    "Crafty", "Frugal", "Sunny", "Wander", "Bloom", "Urban", "Maple", "Ink", "Pixel", "Cozy",
    "Golden", "Willow", "Harbor", "Velvet", "Coastal", "Nordic", "Москва", "Étoile",
];

pub const FIRST_NAMES: &[&str] = &[
    "Aaron", "Abigail", "Adam", "Alexander", "Alexandra", "Alicia", "Amanda", "Amber", "Andrea",
    "Andrew", "Angela", "Anthony", "Ashley", "Brandon", "Brian", "Brittany", "Caitlin", "Carlos",
    "Catherine", "Chelsea", "Christina", "Christopher", "Daniel", "David", "Dylan", "Elizabeth",
    "Emily", "Eric", "Gabriel", "Hannah", "Heather", "Jacob", "Jasmine", "Jennifer", "Jessica",
    "Jonathan", "Joseph", "Joshua", "Justin", "Katherine", "Kevin", "Laura", "Lauren", "Madison",
    "Matthew", "Megan", "Melissa", "Michael", "Michelle", "Nicholas", "Nicole", "Olivia", "Rachel",
    "Rebecca", "Ryan", "Samantha", "Sarah", "Stephanie", "Thomas", "Tyler", "Victoria", "Zachary",
];

pub const LAST_NAMES: &[&str] = &[
    "Adams", "Alexander", "Ali", "Alvarado", "Anderson", "Bailey", "Bradshaw", "Brown", "Butler",
    "Campbell", "Cervantes", "Clark", "Cooper", "Davenport", "Davis", "Edwards", "Evans", "Ferrell",
    "Flores", "Garcia", "Gonzalez", "Gutierrez", "Hall", "Harris", "Hernandez", "Hill", "Holmes",
    "Jackson", "Johnson", "Jones", "Kelly", "King", "Lee", "Lewis", "Lopez", "Martin", "Martinez",
    "Miller", "Mitchell", "Moore", "Morgan", "Murphy", "Nelson", "Nguyen", "Parker", "Perez",
    "Phillips", "Ramirez", "Reed", "Roberts", "Robinson", "Rodriguez", "Sanchez", "Scott", "Smith",
    "Taylor", "Thompson", "Turner", "Walker", "White", "Williams", "Wilson", "Wright", "Young",
];
