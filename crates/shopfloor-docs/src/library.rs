//! The site's documents folder, parsed into sections and indexed for
//! search (tantivy: BM25 over English stems, in memory), kept current by
//! [`Library::rescan`]: a file added, changed or removed is re-read alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use shopfloor_vocabulary::language::{self, Language};
use shopfloor_vocabulary::tag_match::unit_quantity;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::embed::{cosine, EmbedError, Encoder};
use crate::parse::{self, Parsed, Section};
use crate::terms::search_groups;
use crate::vectors::{self, Found, TextKey, VectorFile};

/// The analyzer of every text field: words, lower case, English stems.
const ANALYZER: &str = "en_stem";
/// The writer's memory: tantivy's smallest budget for one thread.
const WRITER_BUDGET_BYTES: usize = 15_000_000;
/// A word of the section's heading counts this much more than one of its
/// steps or prose; a word of the document's title (shared by all its
/// sections) this much.
const HEADING_BOOST: f32 = 3.0;
const TITLE_BOOST: f32 = 1.0;
/// Fewest letters two stems must share to be forms of one word.
const MIN_SHARED_PREFIX: usize = 5;
/// How deep below the folder documents are looked for.
const MAX_DEPTH: usize = 4;

/// What the library may hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Most documents read (the rest are reported, not read).
    pub max_files: usize,
    /// Largest document read, bytes.
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_files: 2_000, max_file_bytes: 20 * 1024 * 1024 }
    }
}

/// Why the library cannot work.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("cannot read the documents folder {path}")]
    Folder { path: PathBuf, source: std::io::Error },
    #[error("the search index failed")]
    Index(#[from] tantivy::TantivyError),
    #[error("the embedding model failed")]
    Embed(#[from] EmbedError),
}

/// A section's vector, with the key of the text it was made from.
type Meaning = (TextKey, Vec<f32>);

/// One indexed section, with what search needs to judge it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The document's path below the folder, `/`-separated.
    pub document: String,
    /// The document's title.
    pub title: String,
    /// The language the document is written in.
    pub language: Language,
    pub section: Section,
    /// Its place in the document, from 0.
    pub position: usize,
    /// The section's stems, its document's title's included.
    stems: HashSet<String>,
    /// What the section means: the encoder's unit vector of its text with
    /// its headings and title, and that text's key (none without an
    /// encoder).
    meaning: Option<Meaning>,
}

impl Entry {
    /// The document's file name.
    pub fn file_name(&self) -> &str {
        self.document.rsplit('/').next().unwrap_or(&self.document)
    }

    /// `file § heading (page N)`, as answers and alerts cite it.
    pub fn citation(&self) -> String {
        let mut citation = self.file_name().to_owned();
        if !self.section.heading.is_empty() {
            citation.push_str(" § ");
            citation.push_str(&self.section.heading);
        }
        if let Some(page) = self.section.page {
            citation.push_str(&format!(" (page {page})"));
        }
        citation
    }
}

/// One search result.
#[derive(Debug, Clone)]
pub struct Hit<'a> {
    pub entry: &'a Entry,
    /// BM25 score (only comparable within one search).
    pub score: f32,
    /// Share of the question's words (weighted by how rare they are in the
    /// library) that the section has: 1.0 when it has them all.
    pub coverage: f32,
    /// Cosine of the question's meaning and the section's (-1..=1); 0
    /// without an encoder.
    pub similarity: f32,
}

/// What a scan changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Documents read for the first time or again, since they changed.
    pub read: Vec<String>,
    /// Documents gone from the folder.
    pub removed: Vec<String>,
    /// Documents that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
    /// Documents left out: over a limit.
    pub skipped: Vec<(String, String)>,
    /// Sections encoded by the model, and sections whose vector was read
    /// back from the vectors file instead.
    pub encoded: usize,
    pub reused: usize,
}

impl ScanReport {
    /// Whether the index changed.
    pub fn changed(&self) -> bool {
        !self.read.is_empty() || !self.removed.is_empty()
    }
}

/// The size of what is held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub documents: usize,
    pub sections: usize,
    /// PDF pages, and one per other document.
    pub pages: usize,
    /// Bytes of the documents' files.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

struct Fields {
    id: Field,
    document: Field,
    title: Field,
    heading: Field,
    body: Field,
}

/// The documents of one folder, searchable.
pub struct Library {
    folder: PathBuf,
    limits: Limits,
    index: Index,
    writer: IndexWriter<TantivyDocument>,
    reader: IndexReader,
    analyzer: TextAnalyzer,
    fields: Fields,
    stamps: BTreeMap<String, Stamp>,
    /// Documents over a limit, as they were when left out.
    left_out: BTreeMap<String, Stamp>,
    pages: BTreeMap<String, usize>,
    entries: HashMap<u64, Entry>,
    by_document: BTreeMap<String, Vec<u64>>,
    /// How many sections have each stem (for the rarity of a word).
    section_frequency: HashMap<String, u32>,
    next_id: u64,
    encoder: Option<Arc<Encoder>>,
    /// Where the sections' vectors are kept between starts.
    vectors: Option<VectorFile>,
    /// Vectors of the sections forgotten during a scan, for the sections
    /// read in the same scan: a document edited in one section, or renamed,
    /// is not encoded again whole.
    recycled: HashMap<TextKey, Vec<f32>>,
}

impl Library {
    /// An empty library of `folder`; [`Library::rescan`] reads it.
    pub fn new(folder: impl Into<PathBuf>, limits: Limits) -> Result<Self, DocsError> {
        let mut schema = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let fields = Fields {
            id: schema.add_u64_field("id", STORED),
            document: schema.add_text_field("document", STRING),
            title: schema.add_text_field("title", text.clone()),
            heading: schema.add_text_field("heading", text.clone()),
            body: schema.add_text_field("body", text),
        };
        let index = Index::create_in_ram(schema.build());
        let writer = index.writer_with_num_threads(1, WRITER_BUDGET_BYTES)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let analyzer = index
            .tokenizers()
            .get(ANALYZER)
            .ok_or_else(|| tantivy::TantivyError::InvalidArgument(format!("no {ANALYZER} analyzer")))?;
        Ok(Library {
            folder: folder.into(),
            limits,
            index,
            writer,
            reader,
            analyzer,
            fields,
            stamps: BTreeMap::new(),
            left_out: BTreeMap::new(),
            pages: BTreeMap::new(),
            entries: HashMap::new(),
            by_document: BTreeMap::new(),
            section_frequency: HashMap::new(),
            next_id: 0,
            encoder: None,
            vectors: None,
            recycled: HashMap::new(),
        })
    }

    /// Searches by meaning too, with `encoder`: every section held is
    /// encoded now, and every section read later as it is read. With
    /// `vector_file`, the sections' vectors are kept there between starts
    /// ([`crate::vectors`]): a section whose text is found there is not
    /// encoded again. Returns what was found in that file.
    pub fn set_encoder(
        &mut self,
        encoder: Arc<Encoder>,
        vector_file: Option<&Path>,
    ) -> Result<Option<Found>, DocsError> {
        let found = vector_file.map(|path| {
            let (file, found) = VectorFile::open(path, encoder.fingerprint(), encoder.dimensions());
            self.vectors = Some(file);
            found
        });
        self.encoder = Some(encoder);
        let mut ids: Vec<u64> = self.entries.keys().copied().collect();
        ids.sort_unstable();
        let texts: Vec<String> =
            ids.iter().filter_map(|id| self.entries.get(id)).map(|e| section_text(&e.title, &e.section)).collect();
        let mut report = ScanReport::default();
        let meanings = self.meanings_of(&texts, &mut report)?;
        for (id, meaning) in ids.iter().zip(meanings) {
            if let Some(entry) = self.entries.get_mut(id) {
                entry.meaning = meaning;
            }
        }
        if !ids.is_empty() {
            self.save_vectors();
        }
        Ok(found)
    }

    /// The vectors of `texts`: read back from the vectors file where it has
    /// them, encoded otherwise (none without an encoder).
    fn meanings_of(&mut self, texts: &[String], report: &mut ScanReport) -> Result<Vec<Option<Meaning>>, DocsError> {
        let Some(encoder) = self.encoder.clone() else { return Ok(vec![None; texts.len()]) };
        let keys: Vec<TextKey> = texts.iter().map(|text| vectors::text_key(text)).collect();
        let mut meanings: Vec<Option<Vec<f32>>> = keys
            .iter()
            .map(|key| self.recycled.remove(key).or_else(|| self.vectors.as_mut().and_then(|file| file.claim(key))))
            .collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| meanings[i].is_none()).collect();
        let encoded = encoder.encode(&missing.iter().map(|&i| texts[i].as_str()).collect::<Vec<_>>())?;
        report.encoded += missing.len();
        report.reused += texts.len() - missing.len();
        for (i, vector) in missing.into_iter().zip(encoded) {
            meanings[i] = Some(vector);
        }
        Ok(keys.into_iter().zip(meanings).map(|(key, meaning)| meaning.map(|vector| (key, vector))).collect())
    }

    /// Writes the vectors of the sections held now to the vectors file, if
    /// there is one. A failure is logged, not returned: the file only
    /// saves time at the next start.
    fn save_vectors(&mut self) {
        let Some(file) = self.vectors.as_mut() else { return };
        let mut held: Vec<(&TextKey, &[f32])> =
            self.entries.values().filter_map(|e| e.meaning.as_ref()).map(|(key, v)| (key, v.as_slice())).collect();
        held.sort_by(|a, b| a.0.cmp(b.0));
        held.dedup_by(|a, b| a.0 == b.0);
        if let Err(error) = file.save(held) {
            let causes = std::error::Error::source(&error).map(|c| c.to_string()).unwrap_or_default();
            tracing::warn!(error = %error, cause = %causes, "the sections will be encoded again at the next start");
        }
    }

    /// Whether search uses meaning as well as words.
    pub fn has_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    /// A library of `folder`, read once.
    pub fn open(folder: impl Into<PathBuf>, limits: Limits) -> Result<(Self, ScanReport), DocsError> {
        let mut library = Library::new(folder, limits)?;
        let report = library.rescan()?;
        Ok((library, report))
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// Reads what was added or changed since the last scan and forgets what
    /// is gone. A folder that cannot be listed is an error (the library
    /// keeps what it has); a document that cannot be read is reported.
    pub fn rescan(&mut self) -> Result<ScanReport, DocsError> {
        let mut report = ScanReport::default();
        let found = self.list()?;
        self.left_out.retain(|name, _| found.contains_key(name));
        let gone: Vec<String> = self.stamps.keys().filter(|name| !found.contains_key(*name)).cloned().collect();
        for name in gone {
            self.forget(&name);
            self.stamps.remove(&name);
            report.removed.push(name);
        }
        let mut held = self.stamps.len();
        for (name, (path, stamp)) in found {
            if self.stamps.get(&name) == Some(&stamp) {
                continue;
            }
            let is_new = !self.stamps.contains_key(&name);
            let over = if is_new && held >= self.limits.max_files {
                Some(format!("more than {} documents", self.limits.max_files))
            } else if stamp.len > self.limits.max_file_bytes {
                Some(format!("larger than {} bytes", self.limits.max_file_bytes))
            } else {
                None
            };
            if let Some(why) = over {
                // Reported once, and again only when the file changes.
                if self.left_out.insert(name.clone(), stamp) != Some(stamp) {
                    report.skipped.push((name, why));
                }
                continue;
            }
            self.left_out.remove(&name);
            self.forget(&name);
            // Read or not, the file is known as it is now: it is tried again
            // only when it changes.
            self.stamps.insert(name.clone(), stamp);
            held += usize::from(is_new);
            match read_document(&path, &name) {
                Ok((parsed, pages)) => {
                    self.add(&name, parsed, pages, &mut report)?;
                    report.read.push(name);
                }
                Err(reason) => report.unreadable.push((name, reason)),
            }
        }
        self.recycled = HashMap::new();
        if report.changed() {
            self.writer.commit()?;
            self.reader.reload()?;
            self.save_vectors();
        }
        Ok(report)
    }

    /// The documents below the folder with their stamps, by name.
    fn list(&self) -> Result<BTreeMap<String, (PathBuf, Stamp)>, DocsError> {
        let mut found = BTreeMap::new();
        let mut folders = vec![(self.folder.clone(), 0usize)];
        while let Some((folder, depth)) = folders.pop() {
            let listing =
                std::fs::read_dir(&folder).map_err(|source| DocsError::Folder { path: folder.clone(), source });
            let listing = match listing {
                Ok(listing) => listing,
                // A subfolder that went away while listing is just gone.
                Err(_) if depth > 0 => continue,
                Err(error) => return Err(error),
            };
            for entry in listing.flatten() {
                let path = entry.path();
                // Followed: a linked document or folder counts as itself.
                let Ok(metadata) = std::fs::metadata(&path) else { continue };
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if hidden {
                    continue;
                }
                if metadata.is_dir() {
                    if depth < MAX_DEPTH {
                        folders.push((path, depth + 1));
                    }
                    continue;
                }
                if Kind::of(&path).is_none() {
                    continue;
                }
                let Ok(relative) = path.strip_prefix(&self.folder) else { continue };
                let name = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                found.insert(name, (path, Stamp { modified: metadata.modified().ok(), len: metadata.len() }));
            }
        }
        Ok(found)
    }

    fn add(&mut self, name: &str, parsed: Parsed, pages: usize, report: &mut ScanReport) -> Result<(), DocsError> {
        let all_text: String = parsed
            .sections
            .iter()
            .flat_map(|s| std::iter::once(s.text.as_str()).chain(s.steps.iter().map(String::as_str)))
            .collect::<Vec<_>>()
            .join(" ");
        let language = language::detect(&format!("{} {all_text}", parsed.title));
        let texts: Vec<String> = match self.encoder {
            Some(_) => parsed.sections.iter().map(|section| section_text(&parsed.title, section)).collect(),
            None => vec![String::new(); parsed.sections.len()],
        };
        let meanings = self.meanings_of(&texts, report)?;
        let mut ids = Vec::with_capacity(parsed.sections.len());
        for ((position, section), meaning) in parsed.sections.into_iter().enumerate().zip(meanings) {
            let id = self.next_id;
            self.next_id += 1;
            let heading = section
                .parents
                .iter()
                .map(String::as_str)
                .chain([section.heading.as_str()])
                .collect::<Vec<_>>()
                .join(" ");
            let body = std::iter::once(section.text.as_str())
                .chain(section.steps.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let mut document = TantivyDocument::default();
            document.add_u64(self.fields.id, id);
            document.add_text(self.fields.document, name);
            document.add_text(self.fields.title, &parsed.title);
            document.add_text(self.fields.heading, &heading);
            document.add_text(self.fields.body, &body);
            self.writer.add_document(document)?;
            let stems: HashSet<String> =
                self.stems(&format!("{} {heading} {body}", parsed.title)).into_iter().collect();
            for stem in &stems {
                *self.section_frequency.entry(stem.clone()).or_default() += 1;
            }
            let entry = Entry {
                document: name.to_owned(),
                title: parsed.title.clone(),
                language,
                section,
                position,
                stems,
                meaning,
            };
            self.entries.insert(id, entry);
            ids.push(id);
        }
        self.by_document.insert(name.to_owned(), ids);
        self.pages.insert(name.to_owned(), pages);
        Ok(())
    }

    fn forget(&mut self, name: &str) {
        let Some(ids) = self.by_document.remove(name) else { return };
        self.writer.delete_term(Term::from_field_text(self.fields.document, name));
        for id in ids {
            if let Some(entry) = self.entries.remove(&id) {
                if let Some((key, vector)) = entry.meaning {
                    self.recycled.insert(key, vector);
                }
                for stem in &entry.stems {
                    if let Some(count) = self.section_frequency.get_mut(stem) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.section_frequency.remove(stem);
                        }
                    }
                }
            }
        }
        self.pages.remove(name);
    }

    /// The stems the index makes of `text`.
    fn stems(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut stream = analyzer.token_stream(text);
        let mut stems = Vec::new();
        while stream.advance() {
            stems.push(stream.token().text.clone());
        }
        stems
    }

    /// The sections that best match `question`, best first, at most `limit`.
    pub fn search(&self, question: &str, limit: usize) -> Result<Vec<Hit<'_>>, DocsError> {
        // Each word asked for, as the stems of its alternatives' forms.
        let mut forms: Vec<Vec<String>> = Vec::new();
        // Numbers and units find sections but say nothing of what is asked.
        let mut counted: Vec<Vec<String>> = Vec::new();
        for group in search_groups(question) {
            let is_measure = group.iter().all(|w| is_number_stem(w) || unit_quantity(w).is_some());
            // The word as asked and its concept (`hot`: temperature).
            let mut stems = Vec::new();
            let mut group_forms: Vec<String> = Vec::new();
            for alternative in &group {
                stems = self.stems(alternative);
                for stem in &stems {
                    for form in self.forms_of(stem) {
                        if !group_forms.contains(&form) {
                            group_forms.push(form);
                        }
                    }
                }
            }
            if let Some(first) = group.first().filter(|_| group_forms.is_empty()) {
                stems = self.stems(first);
            }
            // "unjammed" is about jams.
            if group_forms.is_empty() {
                for stem in stems.iter().filter_map(|stem| stem.strip_prefix("un")) {
                    group_forms.extend(self.forms_of(stem));
                }
            }
            // A word no section has stays itself: it counts against coverage.
            if group_forms.is_empty() {
                group_forms = stems;
            }
            if group_forms.is_empty() {
                continue;
            }
            if !is_measure && !counted.contains(&group_forms) {
                counted.push(group_forms.clone());
            }
            if !forms.contains(&group_forms) {
                forms.push(group_forms);
            }
        }
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut all_forms: Vec<&String> = forms.iter().flatten().collect();
        all_forms.sort();
        all_forms.dedup();
        for form in all_forms {
            let fields =
                [(self.fields.title, TITLE_BOOST), (self.fields.heading, HEADING_BOOST), (self.fields.body, 1.0)];
            for (field, boost) in fields {
                let term = TermQuery::new(Term::from_field_text(field, form), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(term), boost))));
            }
        }
        // Best by words (BM25), then best by meaning that words missed.
        let mut scored: Vec<(u64, f32)> = Vec::new();
        if !clauses.is_empty() {
            let query = BooleanQuery::new(clauses);
            let searcher = self.reader.searcher();
            for (score, address) in searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())? {
                let document: TantivyDocument = searcher.doc(address)?;
                if let Some(id) = document.get_first(self.fields.id).and_then(|v| v.as_u64()) {
                    scored.push((id, score));
                }
            }
        }
        let asked = match &self.encoder {
            Some(encoder) => encoder.encode(&[&meaning_query(question)])?.pop(),
            None => None,
        };
        let similarity = |entry: &Entry| match (&asked, &entry.meaning) {
            (Some(a), Some((_, m))) => cosine(a, m),
            _ => 0.0,
        };
        if asked.is_some() {
            let mut by_meaning: Vec<(u64, f32)> =
                self.entries.iter().map(|(id, entry)| (*id, similarity(entry))).collect();
            let best_first = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
            // Only the best `limit` are wanted: partition, then sort those.
            if by_meaning.len() > limit {
                by_meaning.select_nth_unstable_by(limit, best_first);
                by_meaning.truncate(limit);
            }
            by_meaning.sort_by(best_first);
            for (id, _) in by_meaning.into_iter().take(limit) {
                if !scored.iter().any(|(held, _)| *held == id) {
                    scored.push((id, 0.0));
                }
            }
        }
        Ok(scored
            .into_iter()
            .filter_map(|(id, score)| self.entries.get(&id).map(|entry| (entry, score)))
            .map(|(entry, score)| Hit {
                entry,
                score,
                coverage: self.coverage(&counted, entry),
                similarity: similarity(entry),
            })
            .collect())
    }

    /// The library's stems that are forms of the question's `stem`: itself,
    /// and those it begins or that begin it, from [`MIN_SHARED_PREFIX`]
    /// letters (the stemmer makes `overh` of "overheating" but `overheat`
    /// of "overheat").
    fn forms_of(&self, stem: &str) -> Vec<String> {
        let mut forms: Vec<String> = self
            .section_frequency
            .keys()
            .filter(|known: &&String| {
                let known: &str = known;
                known == stem
                    || (known.len().min(stem.len()) >= MIN_SHARED_PREFIX
                        && (known.starts_with(stem) || stem.starts_with(known)))
                    // "start" asks about restarting too.
                    || known.strip_prefix("re") == Some(stem)
            })
            .cloned()
            .collect();
        forms.sort();
        forms
    }

    /// Share of the question's words (each as its `forms`) the entry has,
    /// each weighted by its rarity in the library (a word no section has
    /// weighs most).
    fn coverage(&self, forms: &[Vec<String>], entry: &Entry) -> f32 {
        let sections = self.entries.len().max(1) as f32;
        let weight = |forms: &Vec<String>| {
            let frequency: u32 = forms.iter().filter_map(|f| self.section_frequency.get(f)).sum();
            (1.0 + sections / (1.0 + (frequency as f32).min(sections))).ln()
        };
        let total: f32 = forms.iter().map(weight).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let held: f32 = forms.iter().filter(|forms| forms.iter().any(|f| entry.stems.contains(f))).map(weight).sum();
        held / total
    }

    /// Whether every content word of `sentence` is in the entry (its
    /// heading, steps, prose or title): the check of a step an answer gives.
    pub fn supports(&self, entry: &Entry, sentence: &str) -> bool {
        self.stems(sentence).iter().all(|stem| entry.stems.contains(stem) || is_number_stem(stem))
    }

    /// Every section held, in no particular order.
    pub fn sections(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The sections of one document, in order.
    pub fn sections_of(&self, document: &str) -> Vec<&Entry> {
        self.by_document
            .get(document)
            .map(|ids| ids.iter().filter_map(|id| self.entries.get(id)).collect())
            .unwrap_or_default()
    }

    /// What is held.
    pub fn stats(&self) -> Stats {
        Stats {
            documents: self.by_document.len(),
            sections: self.entries.len(),
            pages: self.pages.values().sum(),
            bytes: self.by_document.keys().filter_map(|name| self.stamps.get(name)).map(|s| s.len).sum(),
        }
    }

    /// The index's own size in memory, bytes (its segments).
    pub fn index_bytes(&self) -> u64 {
        let searcher = self.reader.searcher();
        searcher.space_usage().map(|usage| usage.total().get_bytes()).unwrap_or(0)
    }

    /// The index, for tools that look inside.
    pub fn index(&self) -> &Index {
        &self.index
    }
}

/// What the encoder reads of a section: where it is (title, headings
/// above) and what it says.
fn section_text(title: &str, section: &Section) -> String {
    let mut text = String::from(title);
    for heading in section.parents.iter().chain([&section.heading]) {
        text.push_str(". ");
        text.push_str(heading);
    }
    text.push_str(". ");
    text.push_str(&section.text);
    for step in &section.steps {
        text.push(' ');
        text.push_str(step);
    }
    text
}

/// What the encoder reads of a question: the question as asked in English;
/// in another language its words in English, as far as they are known (the
/// model reads English only).
fn meaning_query(question: &str) -> String {
    if language::detect(question) == Language::English {
        return question.to_owned();
    }
    search_groups(question).into_iter().filter_map(|group| group.last().cloned()).collect::<Vec<_>>().join(" ")
}

fn is_number_stem(stem: &str) -> bool {
    stem.chars().all(|c| c.is_ascii_digit())
}

/// The kinds of documents read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Markdown,
    Text,
    Pdf,
}

impl Kind {
    fn of(path: &Path) -> Option<Kind> {
        let extension = path.extension()?.to_string_lossy().to_lowercase();
        match extension.as_str() {
            "md" | "markdown" => Some(Kind::Markdown),
            "txt" | "text" => Some(Kind::Text),
            "pdf" => Some(Kind::Pdf),
            _ => None,
        }
    }
}

/// A document and its number of pages; why not, for people.
fn read_document(path: &Path, name: &str) -> Result<(Parsed, usize), String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    parse_document(name, &bytes)
}

/// A document's bytes parsed by the kind its name says (`.md`, `.txt`,
/// `.pdf`), with its number of pages; why not, for people. Outside data:
/// any bytes are an answer or a reason, never a panic.
pub fn parse_document(name: &str, bytes: &[u8]) -> Result<(Parsed, usize), String> {
    let kind = Kind::of(Path::new(name)).ok_or_else(|| "not a document kind that is read".to_owned())?;
    match kind {
        Kind::Markdown | Kind::Text => {
            let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
            let parsed =
                if kind == Kind::Markdown { parse::markdown(text, name) } else { parse::plain_text(text, name) };
            Ok((parsed, 1))
        }
        Kind::Pdf => {
            let pages = crate::pdf_reader::pages(bytes)?;
            let count = pages.len();
            Ok((parse::pdf_pages(&pages, name), count))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Library) {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let (library, report) = Library::open(dir.path(), Limits::default()).unwrap();
        assert_eq!(report.read.len(), files.len(), "{report:?}");
        (dir, library)
    }

    const OVERHEAT: &str = "# Spindle overheat response\n\n## Responding to a spindle temperature alarm\n\n1. Press feed hold.\n2. Check the coolant flow.\n\n## Restarting after an overheat\n\n1. Warm up the spindle at 2000 rpm.\n";
    const JAM: &str =
        "Chip conveyor jam\n\nClearing the jam\n\n1. Stop the conveyor.\n2. Remove the chips with the hook.\n";

    #[test]
    fn the_section_that_answers_comes_first_and_covers_the_question() {
        let (_dir, library) = library_with(&[("overheat.md", OVERHEAT), ("sub/jam.txt", JAM)]);
        let hits = library.search("How do I clear a jammed chip conveyor?", 5).unwrap();
        assert_eq!(hits[0].entry.citation(), "jam.txt § Clearing the jam");
        assert_eq!(hits[0].entry.document, "sub/jam.txt");
        let hits = library.search("The spindle is too hot, what do I do?", 5).unwrap();
        assert_eq!(hits[0].entry.section.heading, "Responding to a spindle temperature alarm");
        assert!(hits[0].coverage > 0.99, "{}", hits[0].coverage);
    }

    #[test]
    fn a_word_no_document_has_lowers_coverage_the_most() {
        let (_dir, library) = library_with(&[("overheat.md", OVERHEAT), ("jam.txt", JAM)]);
        let hits = library.search("How do I replace the spindle belt?", 5).unwrap();
        assert!(hits.iter().all(|hit| hit.coverage < 0.5), "{:?}", hits.iter().map(|h| h.coverage).collect::<Vec<_>>());
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_removed_one_forgotten() {
        let (dir, mut library) = library_with(&[("overheat.md", OVERHEAT), ("jam.txt", JAM)]);
        assert_eq!(library.rescan().unwrap(), ScanReport::default(), "nothing changed");
        let edited = JAM.replace("with the hook", "with the chip rake");
        std::fs::write(dir.path().join("jam.txt"), edited).unwrap();
        // The length changed, so the stamp did, whatever the clock's grain.
        let report = library.rescan().unwrap();
        assert_eq!(report.read, ["jam.txt"]);
        let hits = library.search("chip rake", 1).unwrap();
        assert!(hits[0].entry.section.steps[1].contains("chip rake"));
        std::fs::remove_file(dir.path().join("jam.txt")).unwrap();
        assert_eq!(library.rescan().unwrap().removed, ["jam.txt"]);
        assert!(library.search("chip rake", 5).unwrap().iter().all(|hit| hit.entry.document != "jam.txt"));
        assert_eq!(library.stats().documents, 1);
    }

    #[test]
    fn unreadable_and_oversized_files_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("broken.pdf"), b"%PDF-1.4 not really").unwrap();
        std::fs::write(dir.path().join("latin1.txt"), [0xff, 0xfe, 0x00]).unwrap();
        std::fs::write(dir.path().join("big.md"), "x".repeat(200)).unwrap();
        std::fs::write(dir.path().join("image.png"), b"png").unwrap();
        let limits = Limits { max_files: 10, max_file_bytes: 100 };
        let (library, report) = Library::open(dir.path(), limits).unwrap();
        let unreadable: Vec<&str> = report.unreadable.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(unreadable, ["broken.pdf", "latin1.txt"]);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(library.stats().documents, 0);
        let mut library = library;
        assert_eq!(library.rescan().unwrap(), ScanReport::default(), "a file left out is reported once");
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let error = Library::open("/no/such/folder", Limits::default()).err().unwrap();
        assert!(error.to_string().contains("/no/such/folder"), "{error}");
    }

    #[test]
    fn only_words_of_the_section_support_a_step() {
        let (_dir, library) = library_with(&[("overheat.md", OVERHEAT)]);
        let hits = library.search("spindle temperature alarm", 1).unwrap();
        assert!(library.supports(hits[0].entry, "Check the coolant flow."));
        assert!(!library.supports(hits[0].entry, "Open the door and spray water on the spindle."));
    }
}
