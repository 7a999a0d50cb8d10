//! The input part of VNN-LIB property files, as the VNN-COMP benchmarks write them.
//!
//! A VNN-LIB file is a sequence of SMT-LIB s-expressions:
//!
//! ```text
//! ; comments run to the end of the line
//! (declare-const X_0 Real)
//! (declare-const Y_0 Real)
//! (assert (<= X_0 0.0095)) (assert (>= X_0 -0.0095))
//! (assert (and (<= X_1 1.5e-2) (>= X_1 -1.5e-2)))
//! (assert (or (and (<= X_2 1) (>= X_2 0)) (and (<= X_2 3) (>= X_2 2))))
//! (assert (or (and (>= Y_0 Y_1)) (and (>= Y_0 Y_2))))
//! ```
//!
//! [`read_input_boxes`] returns the set of inputs the file constrains, as a
//! union of boxes (one box for a plain conjunction). How formulas are read:
//!
//! * Input bounds are comparisons of an input `X_i` with a number:
//!   `(<= X_i c)`, `(>= X_i c)`, `(<= c X_i)`, `(= X_i c)`, chains such as
//!   `(<= lo X_i hi)`, and numbers written `(- c)`. Strict `<` and `>` are
//!   read as `<=` and `>=` (the closed box contains the open one).
//! * `and`, `or` and `assert` are expanded into a union of boxes (every
//!   assert must hold: the asserts are a conjunction).
//! * A comparison of two numbers (a link of a chain such as `(<= 0 X_0 0.3
//!   0.2)`) is decided exactly as written: a false one makes its formula
//!   false.
//! * Constraints that mention no input (on the outputs `Y_j`, such as the
//!   property VNN-COMP states as an `or` of output constraints) are not input
//!   constraints: they are read as `true`. Inside an `or` that mixes input and
//!   output constraints in one disjunct, each disjunct therefore contributes
//!   the box given by its input constraints alone: the result is the set of
//!   inputs for which *some* output values satisfy the formula, which contains
//!   every input the property can be about. A disjunct without input
//!   constraints makes its box the whole space, which is refused below as an
//!   unbounded input.
//! * A comparison that relates an input to anything but a number (`(<= X_0
//!   X_1)`, `(<= X_0 Y_0)`, arithmetic on inputs) and `not` around input
//!   constraints are refused as unsupported.
//! * Every input of every box must be bounded on both sides; boxes that are
//!   empty (a lower bound above an upper bound, or a strict bound at the
//!   number of the opposite bound) are dropped from a union, and a file whose
//!   boxes are all empty is refused. Bounds are compared exactly as written:
//!   `(> X_0 0.1) (<= X_0 0.1)` is empty although both numbers round to the
//!   same double.
//!
//! Numbers are any decimal `[-+]digits[.digits][e[-+]digits]` (also `.5` and
//! `5.`); `inf` and `nan` are refused. A decimal such as `0.0095` has no exact
//! binary value: it is parsed to the nearest `f64` (Rust's parse is correctly
//! rounded) and, when that `f64` differs from the decimal, compared with it
//! exactly: a lower bound takes the largest `f64` below the decimal and an
//! upper bound the smallest above it, so every box contains the decimal box
//! the file states. Exactly representable numbers (`0.5`, `-3`,
//! `1.25e2`) are kept as written. Each bound is returned as the enclosure of
//! its decimal, so the set also knows the box the file writes (rounded
//! inward, a strict bound by one more ulp when its number is exact), which
//! every reported witness must lie in ([`crate::input_set`], "Decimals").
//!
//! Limits, so that no file can exhaust the stack or memory:
//! [`MAX_TEXT_BYTES`], [`MAX_DEPTH`], [`MAX_BOXES`] and [`MAX_BOX_CONSTRAINTS`].

use crate::error::{malformed, shape, unsupported, Error, ErrorKind, Result};
use crate::input_set::{Enclosure, InputSet};

/// Longest accepted file text, in bytes.
pub const MAX_TEXT_BYTES: usize = 256 << 20;
/// Deepest accepted nesting of parentheses.
pub const MAX_DEPTH: usize = 128;
/// Most boxes a file's union may expand to.
pub const MAX_BOXES: usize = 1 << 20;
/// Most bound constraints, summed over all boxes, while expanding the union
/// (and the most coordinates, boxes times inputs, in the result).
pub const MAX_BOX_CONSTRAINTS: usize = 1 << 22;

/// Reads the input constraints of a VNN-LIB file for a network with
/// `input_dim` inputs: one input set per box of the union the file describes
/// (a single box when the file is a plain conjunction of bounds).
///
/// Errors are one line naming the line of the file or the input concerned.
pub fn read_input_boxes(text: &str, input_dim: usize) -> Result<Vec<InputSet>> {
    read_input_bounds(text, input_dim)?.into_iter().map(|(lower, upper)| InputSet::from_enclosed_box(&lower, &upper)).collect()
}

/// The boxes of [`read_input_boxes`] as `(lower, upper)` corners, each bound
/// an enclosure `(lo, hi)` of the decimal written ([`InputSet::from_enclosed_box`]):
/// finite, `input_dim` long, `lower.lo <= upper.hi`, at least one box.
pub fn read_input_bounds(text: &str, input_dim: usize) -> Result<Vec<(Vec<Enclosure>, Vec<Enclosure>)>> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(malformed(format!("the file has {} bytes; at most {MAX_TEXT_BYTES} are read", text.len())));
    }
    if input_dim == 0 {
        return Err(shape("the network has no inputs"));
    }
    let mut parser = Parser { text: text.as_bytes(), pos: 0, line: 1 };
    let mut dnf: Dnf = vec![Vec::new()]; // `true`
    let mut declared: Vec<bool> = Vec::new();
    while let Some(command) = parser.next_expr()? {
        let Expr::List(items, line) = &command else {
            return Err(malformed(format!("line {}: expected a command in parentheses, found '{}'", command.line(), command.show())));
        };
        let head = items.first().and_then(Expr::symbol).unwrap_or("");
        match head {
            "declare-const" | "declare-fun" => {
                if let Some(symbol) = items.get(1).and_then(Expr::symbol) {
                    check_input_name(symbol, *line, input_dim)?;
                }
                if let Some(index) = items.get(1).and_then(Expr::symbol).and_then(input_index) {
                    if index >= input_dim {
                        return Err(shape(format!("line {line}: declares X_{index} but the network has {input_dim} inputs")));
                    }
                    if declared.len() <= index {
                        declared.resize(index + 1, false);
                    }
                    declared[index] = true;
                }
            }
            "assert" => {
                if items.len() != 2 {
                    return Err(malformed(format!("line {line}: assert takes one formula, found {}", items.len() - 1)));
                }
                let formula = formula(&items[1], input_dim)?;
                dnf = conjoin(dnf, formula, *line)?;
            }
            "set-logic" | "set-info" | "set-option" | "check-sat" | "get-model" | "exit" => {}
            _ => return Err(unsupported(format!("line {line}: unsupported command '{}'", command_name(items)))),
        }
    }
    if let Some(missing) = declared.iter().position(|d| !d) {
        return Err(malformed(format!("declares X_{} but not X_{missing}", declared.len() - 1)));
    }
    if !declared.is_empty() && declared.len() != input_dim {
        return Err(shape(format!("the file declares {} inputs but the network has {input_dim}", declared.len())));
    }
    boxes(dnf, input_dim)
}

/// The enclosure `[lo, hi]` of the decimal number `token`: `lo == hi` when
/// the decimal is an `f64`, else the two adjacent `f64`s around it (`lo` the
/// largest below it, `hi` the smallest above it), so `lo < decimal < hi`.
/// `None` if `token` is not a decimal number; the bounds may be infinite
/// when the decimal is beyond the `f64` range.
pub fn decimal_enclosure(token: &str) -> Option<(f64, f64)> {
    let decimal = Decimal::parse(token)?;
    let value: f64 = token.parse().ok()?;
    if decimal.is_exactly(value) {
        return Some((value, value));
    }
    Some(match decimal_against_nearest(token) {
        Some(std::cmp::Ordering::Less) => (value.next_down(), value),
        Some(std::cmp::Ordering::Greater) => (value, value.next_up()),
        // beyond the f64 range (an infinite nearest value)
        _ => (value.next_down(), value.next_up()),
    })
}

/// How the decimal `token` compares with its nearest double: `Less` when the
/// decimal is below it, `Equal` when it is the double, `Greater` above.
/// None if `token` is not a decimal number or beyond the `f64` range.
pub fn decimal_against_nearest(token: &str) -> Option<std::cmp::Ordering> {
    let decimal = Decimal::parse(token)?;
    let value: f64 = token.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    let magnitude = decimal.cmp_abs(value);
    // the sign was dropped by the parser: a negative decimal reverses the order
    Some(if token.trim_start().starts_with('-') { magnitude.reverse() } else { magnitude })
}

// ---------------------------------------------------------------------------
// s-expressions

enum Expr<'a> {
    Atom(&'a str, usize),
    List(Vec<Expr<'a>>, usize),
}

impl<'a> Expr<'a> {
    fn line(&self) -> usize {
        match self {
            Expr::Atom(_, line) | Expr::List(_, line) => *line,
        }
    }
    fn symbol(&self) -> Option<&'a str> {
        match self {
            Expr::Atom(s, _) => Some(s),
            Expr::List(..) => None,
        }
    }
    /// A short rendering for messages (at most about 60 characters).
    fn show(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        if out.len() > 60 {
            let mut cut = 57;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push_str("...");
        }
        out
    }
    fn render(&self, out: &mut String) {
        if out.len() > 80 {
            return;
        }
        match self {
            Expr::Atom(s, _) => out.extend(s.chars().map(|c| if c.is_control() { ' ' } else { c })),
            Expr::List(items, _) => {
                out.push('(');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push(' ');
                    }
                    item.render(out);
                    if out.len() > 80 {
                        break;
                    }
                }
                out.push(')');
            }
        }
    }
}

/// A token for a message: at most 40 characters, on one line.
fn clean(s: &str) -> String {
    let mut out: String = s.chars().take(40).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if s.chars().nth(40).is_some() {
        out.push_str("...");
    }
    out
}

fn command_name(items: &[Expr]) -> String {
    match items.first() {
        Some(e) => e.show(),
        None => "()".into(),
    }
}

/// Reads one top-level s-expression at a time, without recursion.
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    line: usize,
}

enum Token<'a> {
    Open(usize),
    Close(usize),
    Atom(&'a str, usize),
}

impl<'a> Parser<'a> {
    fn token(&mut self) -> Result<Option<Token<'a>>> {
        let text = self.text;
        loop {
            let Some(&c) = text.get(self.pos) else { return Ok(None) };
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                b';' => {
                    while self.pos < text.len() && text[self.pos] != b'\n' {
                        self.pos += 1;
                    }
                }
                c if c.is_ascii_whitespace() => self.pos += 1,
                b'(' => {
                    self.pos += 1;
                    return Ok(Some(Token::Open(self.line)));
                }
                b')' => {
                    self.pos += 1;
                    return Ok(Some(Token::Close(self.line)));
                }
                b'|' => {
                    // quoted symbol |...|
                    let (start, line) = (self.pos + 1, self.line);
                    let end = text[start..].iter().position(|&b| b == b'|').map(|k| start + k);
                    let Some(end) = end else {
                        return Err(malformed(format!("line {line}: unterminated quoted symbol")));
                    };
                    self.line += text[start..end].iter().filter(|&&b| b == b'\n').count();
                    self.pos = end + 1;
                    return Ok(Some(Token::Atom(self.str(start, end), line)));
                }
                b'"' => {
                    // string literal "...", with "" standing for one quote: one
                    // atom, quotes kept (it is never a number or a variable);
                    // the parentheses and semicolons inside are text
                    let (start, line) = (self.pos, self.line);
                    let mut end = start + 1;
                    loop {
                        match text[end..].iter().position(|&b| b == b'"').map(|k| end + k) {
                            None => return Err(malformed(format!("line {line}: unterminated string literal"))),
                            Some(quote) if text.get(quote + 1) == Some(&b'"') => end = quote + 2,
                            Some(quote) => {
                                end = quote + 1;
                                break;
                            }
                        }
                    }
                    self.line += text[start..end].iter().filter(|&&b| b == b'\n').count();
                    self.pos = end;
                    return Ok(Some(Token::Atom(self.str(start, end), line)));
                }
                _ => {
                    let start = self.pos;
                    while self.pos < text.len() && !matches!(text[self.pos], b'(' | b')' | b';' | b'|' | b'"') && !text[self.pos].is_ascii_whitespace() {
                        self.pos += 1;
                    }
                    return Ok(Some(Token::Atom(self.str(start, self.pos), self.line)));
                }
            }
        }
    }

    /// `text[start..end]`: the bounds always fall on ASCII bytes, hence on
    /// character boundaries.
    fn str(&self, start: usize, end: usize) -> &'a str {
        std::str::from_utf8(&self.text[start..end]).unwrap_or("")
    }

    /// The next complete top-level expression, `None` at the end of the text.
    fn next_expr(&mut self) -> Result<Option<Expr<'a>>> {
        let mut stack: Vec<(Vec<Expr<'a>>, usize)> = Vec::new();
        loop {
            let token = self.token()?;
            let done = match token {
                None => {
                    return match stack.last() {
                        None => Ok(None),
                        Some((_, line)) => Err(malformed(format!("line {line}: '(' is never closed"))),
                    }
                }
                Some(Token::Open(line)) => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(malformed(format!("line {line}: parentheses nested deeper than {MAX_DEPTH}")));
                    }
                    stack.push((Vec::new(), line));
                    continue;
                }
                Some(Token::Close(line)) => {
                    let Some((items, open_line)) = stack.pop() else {
                        return Err(malformed(format!("line {line}: ')' without a matching '('")));
                    };
                    Expr::List(items, open_line)
                }
                Some(Token::Atom(s, line)) => Expr::Atom(s, line),
            };
            match stack.last_mut() {
                Some((items, _)) => items.push(done),
                None => return Ok(Some(done)),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// formulas as unions of boxes

/// One box: a list of bounds `(input, lower, upper, number)` that all hold,
/// each bound an enclosure of its decimal (`+-inf` where there is none), and
/// the number as written.
type BoxConstraints<'a> = Vec<(usize, Enclosure, Enclosure, WrittenNumber<'a>)>;
/// A union of boxes; `vec![vec![]]` is the whole space, `vec![]` is empty.
type Dnf<'a> = Vec<BoxConstraints<'a>>;

/// The number a bound compares its input with, as the file writes it: the
/// decimal's text, whether it stands inside `(- ...)`, and whether the
/// comparison is strict. Two bounds within one rounding of each other have
/// the same enclosures; their written numbers still tell whether any real
/// number satisfies both ([`boxes`]).
#[derive(Clone, Copy, Debug)]
struct WrittenNumber<'a> {
    text: &'a str,
    negated: bool,
    strict: bool,
}

impl WrittenNumber<'_> {
    /// The exact value: its sign (`true` for negative; zero is not) and its
    /// magnitude.
    fn value(&self) -> Option<(bool, Decimal)> {
        let magnitude = Decimal::parse(self.text)?;
        let negative = (self.text.starts_with('-') != self.negated) && !magnitude.digits.is_empty();
        Some((negative, magnitude))
    }

    /// The signed number for messages (`(- -0.5)` shows as `0.5`).
    fn show(&self) -> String {
        let text = clean(self.text.trim_start_matches('+'));
        match (self.negated, text.strip_prefix('-')) {
            (true, Some(positive)) => positive.to_string(),
            (true, None) => format!("-{text}"),
            (false, _) => text,
        }
    }
}

/// The index `i` of the input symbol `X_i`, written as a canonical decimal:
/// `X_00` is another SMT-LIB symbol than `X_0`, never declared, and so not
/// an input (a comparison mentioning it is refused).
fn input_index(symbol: &str) -> Option<usize> {
    let digits = symbol.strip_prefix("X_")?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok()
}

/// Refuses a symbol shaped like an input that is not one: `X_` and digits
/// that are not a canonical index (`X_00`) or too many for any network
/// (`X_18446744073709551616`); a reader that let them pass would ignore
/// the declaration, or name the comparison instead of the symbol.
fn check_input_name(symbol: &str, line: usize, dim: usize) -> Result<()> {
    let Some(digits) = symbol.strip_prefix("X_") else { return Ok(()) };
    if input_index(symbol).is_some() || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    // a symbol of many digits is shown cut, as every other quoted text
    let symbol = Expr::Atom(symbol, line).show();
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(malformed(format!("line {line}: '{symbol}' is not an input name (inputs are X_0 to X_{}, without leading zeros)", dim.saturating_sub(1))));
    }
    Err(shape(format!("line {line}: {symbol} names an input beyond the network's {dim} (X_0 to X_{})", dim.saturating_sub(1))))
}

/// Whether `e` mentions an input `X_i` (or anything shaped like one).
fn mentions_input(e: &Expr) -> bool {
    match e {
        Expr::Atom(s, _) => s.starts_with("X_"),
        Expr::List(items, _) => items.iter().any(mentions_input),
    }
}

/// A number, `(- number)` or `(+ number)`, as an enclosure of its exact value
/// and as written.
fn constant<'a>(e: &Expr<'a>) -> Result<Option<(Enclosure, WrittenNumber<'a>)>> {
    match e {
        Expr::Atom(s, line) => {
            let looks_numeric = s.bytes().next().is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
                && s.len() > usize::from(s.starts_with(['-', '+']));
            let lowered = s.to_ascii_lowercase();
            let trimmed = lowered.trim_start_matches(['-', '+']);
            if matches!(trimmed, "inf" | "infinity" | "nan") {
                return Err(malformed(format!("line {line}: '{}' is not a finite number", clean(s))));
            }
            if !looks_numeric {
                return Ok(None);
            }
            match decimal_enclosure(s) {
                Some((lo, hi)) if lo.is_finite() && hi.is_finite() => Ok(Some(((lo, hi), WrittenNumber { text: s, negated: false, strict: false }))),
                Some(_) => Err(malformed(format!("line {line}: '{}' is too large for a 64-bit float", clean(s)))),
                None => Err(malformed(format!("line {line}: '{}' is not a number", clean(s)))),
            }
        }
        Expr::List(items, _) => match items.as_slice() {
            [Expr::Atom("-", _), inner] => Ok(constant(inner)?.map(|((lo, hi), number)| ((-hi, -lo), WrittenNumber { negated: !number.negated, ..number }))),
            [Expr::Atom("+", _), inner] => constant(inner),
            _ => Ok(None),
        },
    }
}

fn formula<'a>(e: &Expr<'a>, dim: usize) -> Result<Dnf<'a>> {
    let Expr::List(items, line) = e else {
        return match e.symbol() {
            Some("true") => Ok(vec![Vec::new()]),
            Some("false") => Ok(Vec::new()),
            _ if mentions_input(e) => Err(unsupported(format!("line {}: '{}' is not a formula", e.line(), e.show()))),
            _ => Ok(vec![Vec::new()]), // a Boolean output or other name: not an input constraint
        };
    };
    let line = *line;
    let head = items.first().and_then(Expr::symbol).unwrap_or("");
    let args = items.get(1..).unwrap_or(&[]);
    match head {
        "and" => {
            let mut dnf: Dnf = vec![Vec::new()];
            for arg in args {
                dnf = conjoin(dnf, formula(arg, dim)?, line)?;
            }
            Ok(dnf)
        }
        "or" => {
            let mut dnf: Dnf = Vec::new();
            let mut size = 0usize;
            for arg in args {
                let part = formula(arg, dim)?;
                if part.iter().any(Vec::is_empty) {
                    // a disjunct that is the whole space absorbs the others
                    return Ok(vec![Vec::new()]);
                }
                size = size.saturating_add(part.iter().map(Vec::len).sum());
                if dnf.len() + part.len() > MAX_BOXES || size > MAX_BOX_CONSTRAINTS {
                    return Err(too_many(line));
                }
                dnf.extend(part);
            }
            Ok(dnf)
        }
        "<=" | ">=" | "<" | ">" | "=" => {
            if args.len() < 2 {
                return Err(malformed(format!("line {line}: '{head}' needs two operands")));
            }
            let mut dnf: Dnf = vec![Vec::new()];
            for pair in args.windows(2) {
                dnf = conjoin(dnf, comparison(head, &pair[0], &pair[1], line, dim)?, line)?;
            }
            Ok(dnf)
        }
        _ if !mentions_input(e) => Ok(vec![Vec::new()]), // not, =>, ... on outputs only
        "not" | "=>" | "xor" | "ite" | "distinct" => Err(unsupported(format!("line {line}: '{head}' around input constraints is not supported"))),
        _ => Err(unsupported(format!("line {line}: unsupported formula '{}'", e.show()))),
    }
}

/// `a op b` with `op` one of `<= >= < > =`.
fn comparison<'a>(op: &str, a: &Expr<'a>, b: &Expr<'a>, line: usize, dim: usize) -> Result<Dnf<'a>> {
    for symbol in [a, b].iter().filter_map(|e| e.symbol()) {
        check_input_name(symbol, line, dim)?;
    }
    let var = |e: &Expr| e.symbol().and_then(input_index);
    let (index, value, var_on_left) = match (var(a), var(b)) {
        (Some(i), None) => (i, b, true),
        (None, Some(i)) => (i, a, false),
        _ if !mentions_input(a) && !mentions_input(b) => {
            // two numbers (a link of a chain such as `(<= 0 X_0 0.3 0.2)`):
            // decided exactly as written; an output constraint is `true`
            if let (Some((_, x)), Some((_, y))) = (constant(a)?, constant(b)?) {
                return Ok(if numbers_compare(op, &x, &y) { vec![Vec::new()] } else { Vec::new() });
            }
            return Ok(vec![Vec::new()]);
        }
        _ => return Err(unsupported(format!("line {line}: only bounds of one input by a number are supported, not '({op} {} {})'", a.show(), b.show()))),
    };
    if index >= dim {
        return Err(shape(format!("line {line}: X_{index} names an input beyond the network's {dim} (X_0 to X_{})", dim.saturating_sub(1))));
    }
    let Some(((lo, hi), number)) = constant(value)? else {
        return Err(unsupported(format!("line {line}: X_{index} is compared with '{}', not with a number", value.show())));
    };
    let (none_below, none_above) = ((f64::NEG_INFINITY, f64::NEG_INFINITY), (f64::INFINITY, f64::INFINITY));
    let strict = matches!(op, "<" | ">");
    let is_upper = match op {
        "<=" | "<" => var_on_left,
        ">=" | ">" => !var_on_left,
        _ => return Ok(vec![vec![(index, (lo, hi), (lo, hi), number)]]), // "="
    };
    let number = WrittenNumber { strict, ..number };
    // a strict bound on an exact number excludes the number itself from the written box
    let exact_strict = strict && lo == hi;
    Ok(vec![vec![if is_upper {
        (index, none_below, (if exact_strict { lo.next_down() } else { lo }, hi), number)
    } else {
        (index, (lo, if exact_strict { hi.next_up() } else { hi }), none_above, number)
    }]])
}

fn too_many(line: usize) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("line {line}: the formula expands to more than {MAX_BOXES} boxes or {MAX_BOX_CONSTRAINTS} bounds"),
    )
}

/// The intersection of two unions: every box of `a` with every box of `b`.
fn conjoin<'a>(a: Dnf<'a>, b: Dnf<'a>, line: usize) -> Result<Dnf<'a>> {
    if b.len() == 1 {
        let extra = &b[0];
        let mut a = a;
        let size: usize = a.iter().map(|x| x.len().saturating_add(extra.len())).fold(0, usize::saturating_add);
        if size > MAX_BOX_CONSTRAINTS {
            return Err(too_many(line));
        }
        for x in &mut a {
            x.extend_from_slice(extra);
        }
        return Ok(a);
    }
    if a.len() == 1 && a[0].is_empty() {
        return Ok(b);
    }
    let count = a.len().checked_mul(b.len()).filter(|&n| n <= MAX_BOXES).ok_or_else(|| too_many(line))?;
    let size_a: usize = a.iter().map(Vec::len).sum();
    let size_b: usize = b.iter().map(Vec::len).sum();
    let size = size_a.checked_mul(b.len()).and_then(|s| s.checked_add(size_b.checked_mul(a.len())?));
    if size.is_none_or(|s| s > MAX_BOX_CONSTRAINTS) {
        return Err(too_many(line));
    }
    let mut out = Vec::with_capacity(count);
    for x in &a {
        for y in &b {
            let mut both = Vec::with_capacity(x.len() + y.len());
            both.extend_from_slice(x);
            both.extend_from_slice(y);
            out.push(both);
        }
    }
    Ok(out)
}

/// The boxes of a union, dense; empty boxes dropped; every input bounded.
fn boxes(dnf: Dnf, dim: usize) -> Result<Vec<(Vec<Enclosure>, Vec<Enclosure>)>> {
    let union = dnf.len() > 1;
    let name = |k: usize| if union { format!("box {} of the union: ", k + 1) } else { String::new() };
    if dnf.len().checked_mul(dim).is_none_or(|n| n > MAX_BOX_CONSTRAINTS) {
        return Err(Error::new(ErrorKind::Unsupported, format!("{} boxes of {dim} inputs are more than {MAX_BOX_CONSTRAINTS} bounds", dnf.len())));
    }
    let mut out = Vec::new();
    let mut first_empty = None;
    for (k, constraints) in dnf.into_iter().enumerate() {
        let mut lower = vec![f64::NEG_INFINITY; dim];
        let mut upper = vec![f64::INFINITY; dim];
        let mut written_lower = vec![f64::NEG_INFINITY; dim];
        let mut written_upper = vec![f64::INFINITY; dim];
        for &(i, (lo, written_lo), (written_hi, hi), _) in &constraints {
            lower[i] = lower[i].max(lo);
            upper[i] = upper[i].min(hi);
            written_lower[i] = written_lower[i].max(written_lo);
            written_upper[i] = written_upper[i].min(written_hi);
        }
        if let Some(i) = (0..dim).find(|&i| lower[i] > upper[i]) {
            first_empty.get_or_insert_with(|| format!("{}X_{i} has lower bound {} > upper bound {}", name(k), lower[i], upper[i]));
            continue;
        }
        // bounds within one rounding of each other (the written box, rounded
        // inward, is inverted while the bounded box is not): only the numbers
        // as written tell whether a real number satisfies both
        let ambiguous: Vec<bool> = (0..dim).map(|i| written_lower[i] > written_upper[i]).collect();
        if let Some((i, why)) = ambiguous.contains(&true).then(|| exact_contradiction(&constraints, &ambiguous)).flatten() {
            first_empty.get_or_insert_with(|| format!("{}X_{i}: {why}", name(k)));
            continue;
        }
        if let Some(i) = (0..dim).find(|&i| !lower[i].is_finite() || !upper[i].is_finite()) {
            let side = match (lower[i].is_finite(), upper[i].is_finite()) {
                (false, false) => "has no bounds",
                (false, true) => "has no lower bound",
                _ => "has no upper bound",
            };
            return Err(Error::new(ErrorKind::InvalidInputSet, format!("{}input X_{i} {side}: every input needs a lower and an upper bound", name(k))));
        }
        out.push((lower.into_iter().zip(written_lower).collect(), written_upper.into_iter().zip(upper).collect()));
    }
    if out.is_empty() {
        let why = first_empty.unwrap_or_else(|| "a constraint is 'false'".into());
        return Err(Error::new(ErrorKind::InvalidInputSet, format!("the input constraints are contradictory: {why}")));
    }
    Ok(out)
}

/// The first input among those marked `ambiguous` whose bounds in
/// `constraints` leave no real number, compared exactly as written: the
/// largest lower bound (strict before non-strict at the same number) above
/// the smallest upper bound, or equal to it with either strict. Returns the
/// input and its two bounds as a message. Numbers that cannot be compared
/// (an exponent of `+-2^40` or beyond) are left out: a contradiction only
/// they make is missed, and the set is kept as one that may hold no double.
/// One pass over the constraints.
fn exact_contradiction(constraints: &BoxConstraints, ambiguous: &[bool]) -> Option<(usize, String)> {
    use std::cmp::Ordering;
    type Best<'a> = Option<(WrittenNumber<'a>, (bool, Decimal))>;
    let mut tightest_lower: Vec<Best> = vec![None; ambiguous.len()];
    let mut tightest_upper: Vec<Best> = vec![None; ambiguous.len()];
    // whether `number` (of `value`) is a tighter bound than `best` on the
    // side where `tighter` is the order that tightens (a bound left out
    // can only hide a contradiction, never make one)
    let tighter_than = |best: &Best, number: &WrittenNumber, value: &(bool, Decimal), tighter: Ordering| match best {
        None => true,
        Some((best, best_value)) => match cmp_signed(value, best_value) {
            Some(Ordering::Equal) => number.strict && !best.strict,
            order => order == Some(tighter),
        },
    };
    for &(i, (lo, _), (_, hi), number) in constraints {
        // a number that cannot be compared (an exponent of +-2^40 or beyond)
        // is left out: the others may still contradict each other
        if !ambiguous[i] {
            continue;
        }
        let Some(value) = number.value().filter(|v| !v.1.exponent_saturated) else { continue };
        // a side is bounded where its enclosure is finite ("=" bounds both)
        let lower_tighter = lo > f64::NEG_INFINITY && tighter_than(&tightest_lower[i], &number, &value, Ordering::Greater);
        let upper_tighter = hi < f64::INFINITY && tighter_than(&tightest_upper[i], &number, &value, Ordering::Less);
        if lower_tighter {
            tightest_lower[i] = Some((number, value.clone()));
        }
        if upper_tighter {
            tightest_upper[i] = Some((number, value));
        }
    }
    let op = |strict: bool, below: bool| match (strict, below) {
        (true, true) => ">",
        (false, true) => ">=",
        (true, false) => "<",
        (false, false) => "<=",
    };
    (0..ambiguous.len()).filter(|&i| ambiguous[i]).find_map(|i| {
        let ((lower, lower_value), (upper, upper_value)) = (tightest_lower[i].as_ref()?, tightest_upper[i].as_ref()?);
        let empty = match cmp_signed(lower_value, upper_value)? {
            Ordering::Greater => true,
            Ordering::Equal => lower.strict || upper.strict,
            Ordering::Less => false,
        };
        empty.then(|| (i, format!("no number is {} {} and {} {} (compared as written: the two round to neighbouring or equal doubles)", op(lower.strict, true), lower.show(), op(upper.strict, false), upper.show())))
    })
}

/// Whether `x op y` holds for two numbers as written (`op` one of `<= >= <
/// > =`), exactly; `true` when an exponent of `+-2^40` or beyond keeps them
/// from being compared (the constraint then leaves the set as it is).
fn numbers_compare(op: &str, x: &WrittenNumber, y: &WrittenNumber) -> bool {
    use std::cmp::Ordering::{Equal, Greater, Less};
    let Some(order) = x.value().zip(y.value()).and_then(|(x, y)| cmp_signed(&x, &y)) else { return true };
    match op {
        "<=" => order != Greater,
        "<" => order == Less,
        ">=" => order != Less,
        ">" => order == Greater,
        _ => order == Equal,
    }
}

/// `a` against `b`, signed decimals `(negative, magnitude)`. None when the
/// signs do not decide and either magnitude's exponent was written beyond
/// `+-2^40` ([`Decimal::parse`] keeps such exponents only approximately).
fn cmp_signed(a: &(bool, Decimal), b: &(bool, Decimal)) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    let zero = |d: &Decimal| d.digits.is_empty();
    Some(match (a.0, b.0) {
        (false, true) => Ordering::Greater,
        (true, false) => Ordering::Less,
        _ if (a.1.exponent_saturated && !zero(&b.1)) || (b.1.exponent_saturated && !zero(&a.1)) => return None,
        (false, false) => a.1.cmp_magnitude(&b.1),
        (true, true) => b.1.cmp_magnitude(&a.1),
    })
}

/// How the decimal `a` compares with the decimal `b`, exactly and with their
/// signs (`-0` equals `0`). None if either is not a decimal number, or if
/// the signs do not decide and an exponent is written at `+-2^40` or beyond (such
/// a decimal rounds to 0 or overflows; it is not compared).
pub fn compare_decimals(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let signed = |text: &str| {
        let text = text.trim();
        WrittenNumber { text, negated: false, strict: false }.value()
    };
    cmp_signed(&signed(a)?, &signed(b)?)
}

// ---------------------------------------------------------------------------
// exact decimals

/// A decimal `digits * 10^exponent` with `digits` free of leading and
/// trailing zeros (empty for zero).
#[derive(Clone)]
struct Decimal {
    digits: Vec<u8>,
    exponent: i64,
    /// The written exponent reached `+-2^40` and was cut there: the value
    /// is then only known to be 0 or infinite as an `f64`, and it is not
    /// compared with other decimals ([`cmp_signed`]).
    exponent_saturated: bool,
}

impl Decimal {
    /// Parses `[-+]digits[.digits][(e|E)[-+]digits]` (at least one digit
    /// before the exponent). The sign is dropped.
    fn parse(s: &str) -> Option<Decimal> {
        let b = s.as_bytes();
        let mut k = usize::from(matches!(b.first(), Some(b'-' | b'+')));
        let mut digits = Vec::new();
        let mut fraction_len: i64 = 0;
        let mut seen_digit = false;
        while let Some(&c) = b.get(k).filter(|c| c.is_ascii_digit()) {
            digits.push(c - b'0');
            seen_digit = true;
            k += 1;
        }
        if b.get(k) == Some(&b'.') {
            k += 1;
            while let Some(&c) = b.get(k).filter(|c| c.is_ascii_digit()) {
                digits.push(c - b'0');
                fraction_len += 1;
                seen_digit = true;
                k += 1;
            }
        }
        if !seen_digit {
            return None;
        }
        let mut exponent: i64 = 0;
        if matches!(b.get(k), Some(b'e' | b'E')) {
            k += 1;
            let negative = b.get(k) == Some(&b'-');
            k += usize::from(matches!(b.get(k), Some(b'-' | b'+')));
            let start = k;
            while let Some(&c) = b.get(k).filter(|c| c.is_ascii_digit()) {
                // saturate: such exponents only give 0 or infinity anyway
                exponent = (exponent * 10 + i64::from(c - b'0')).min(1 << 40);
                k += 1;
            }
            if k == start {
                return None;
            }
            if negative {
                exponent = -exponent;
            }
        }
        if k != b.len() {
            return None;
        }
        let exponent_saturated = exponent.abs() >= 1 << 40;
        let exponent = exponent - fraction_len;
        let decimal = Decimal::normalised(digits, exponent);
        Some(Decimal { exponent_saturated: exponent_saturated && !decimal.digits.is_empty(), ..decimal })
    }

    fn normalised(mut digits: Vec<u8>, mut exponent: i64) -> Decimal {
        let lead = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exponent += 1;
        }
        if digits.is_empty() {
            exponent = 0;
        }
        Decimal { digits, exponent, exponent_saturated: false }
    }

    /// This decimal against `|value|` (a finite double), exactly: both as
    /// normalised digit strings, the one whose leading digit sits higher is
    /// larger, else the first differing digit decides, else the longer one.
    fn cmp_abs(&self, value: f64) -> std::cmp::Ordering {
        self.cmp_magnitude(&Decimal::of_double(value))
    }

    /// This decimal's magnitude against `other`'s, exactly (as
    /// [`Decimal::cmp_abs`]).
    fn cmp_magnitude(&self, other: &Decimal) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let lead = |d: &Decimal| d.digits.len() as i64 + d.exponent;
        lead(self).cmp(&lead(other)).then_with(|| self.digits.cmp(&other.digits))
    }

    /// Whether `|value|` equals this decimal exactly.
    fn is_exactly(&self, value: f64) -> bool {
        let value = value.abs();
        if self.digits.is_empty() || value == 0.0 || !value.is_finite() {
            return self.digits.is_empty() && value == 0.0;
        }
        // every f64 has at most 767 significant decimal digits
        if self.digits.len() > 767 {
            return false;
        }
        // fast path: small integers times small powers of ten
        if self.digits.len() <= 15 && self.exponent.abs() <= 22 {
            let n = self.digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d));
            if self.exponent >= 0 {
                // n * 10^e is an f64 when below 2^53; otherwise use the slow path
                let m = 10u64.checked_pow(self.exponent as u32).and_then(|p| n.checked_mul(p));
                if let Some(m) = m.filter(|&m| m < 1 << 53) {
                    return m as f64 == value;
                }
            } else {
                let five = 5u64.pow(self.exponent.unsigned_abs() as u32);
                if n % five != 0 {
                    return false; // n / 10^k with 5^k not dividing n is not a dyadic rational
                }
                // n / 10^k = (n / 5^k) / 2^k, exact in f64 since n / 5^k < 2^53 and k <= 22
                let q = (n / five) as f64 / (1u64 << self.exponent.unsigned_abs()) as f64;
                return q == value;
            }
        }
        // slow path: the exact decimal expansion of `value`
        let exact = Decimal::of_double(value);
        exact.digits == self.digits && exact.exponent == self.exponent
    }

    /// The exact decimal of `|value|` (finite): a double has at most 767
    /// significant decimal digits, so `{:.800e}` writes all of them.
    fn of_double(value: f64) -> Decimal {
        let value = value.abs();
        if value == 0.0 {
            return Decimal { digits: Vec::new(), exponent: 0, exponent_saturated: false };
        }
        let text = format!("{value:.800e}");
        let (mantissa, exp) = text.split_once('e').expect("scientific notation");
        let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|c| c - b'0').collect();
        Decimal::normalised(digits, exp.parse::<i64>().expect("an integer exponent") - 800)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decimal against its nearest double, from the double's exact
    /// expansion: the expansion itself is equal, the expansion with a digit
    /// appended is above, with its last digit lowered below (random positive
    /// doubles; the signs in the fixed cases).
    #[test]
    fn decimals_are_placed_against_their_nearest_double() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        assert_eq!(decimal_against_nearest("0.1"), Some(Less)); // fl(0.1) is above 1/10
        assert_eq!(decimal_against_nearest("0.5"), Some(Equal));
        assert_eq!(decimal_against_nearest("-0.1"), Some(Greater));
        assert_eq!(decimal_against_nearest("1e-400"), Some(Greater));
        assert_eq!(decimal_against_nearest("-1e-400"), Some(Less));
        assert_eq!(decimal_against_nearest("0"), Some(Equal));
        assert_eq!(decimal_against_nearest("1e400"), None);
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..3000 {
            let v = f64::from_bits(rng.gen::<u64>() >> 1);
            if !v.is_finite() || v == 0.0 {
                continue;
            }
            let exact = format!("{v:.800e}");
            let (mantissa, exponent) = exact.split_once('e').unwrap();
            let mantissa = mantissa.trim_end_matches('0');
            let mantissa = if mantissa.ends_with('.') { format!("{mantissa}0") } else { mantissa.to_string() };
            assert_eq!(decimal_against_nearest(&format!("{mantissa}e{exponent}")), Some(Equal), "{v:e}");
            assert_eq!(decimal_against_nearest(&format!("{mantissa}00000000000000000000000001e{exponent}")), Some(Greater), "{v:e}");
            let last = mantissa.len() - 1;
            let digit = mantissa.as_bytes()[last];
            if digit > b'0' && mantissa.len() > 3 {
                let lowered = format!("{}{}99999e{exponent}", &mantissa[..last], char::from(digit - 1));
                assert_eq!(decimal_against_nearest(&lowered), Some(Less), "{v:e}: {lowered}");
            }
        }
    }

    fn one(text: &str, dim: usize) -> (Vec<f64>, Vec<f64>) {
        let sets = read_input_boxes(text, dim).unwrap();
        assert_eq!(sets.len(), 1);
        (sets[0].lower().to_vec(), sets[0].upper().to_vec())
    }

    fn err(text: &str, dim: usize) -> Error {
        match read_input_boxes(text, dim) {
            Ok(sets) => panic!("accepted {} boxes", sets.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn exact_decimals_are_kept_and_inexact_ones_enclosed_by_their_neighbours() {
        assert_eq!(decimal_enclosure("0.5"), Some((0.5, 0.5)));
        assert_eq!(decimal_enclosure("-3"), Some((-3.0, -3.0)));
        assert_eq!(decimal_enclosure("1.25e2"), Some((125.0, 125.0)));
        assert_eq!(decimal_enclosure("0.000"), Some((0.0, 0.0)));
        // 2^53 + 1 lies between 2^53 (its nearest, ties to even) and 2^53 + 2
        assert_eq!(decimal_enclosure("9007199254740993"), Some((9007199254740992.0, 9007199254740994.0)));
        let tenth = 0.1f64;
        // fl(0.1) lies above 1/10
        assert_eq!(decimal_enclosure("0.1"), Some((tenth.next_down(), tenth)));
        assert_eq!(decimal_enclosure("-0.1"), Some((-tenth, (-tenth).next_up())));
        assert_eq!(decimal_enclosure("1e-400"), Some((0.0, f64::from_bits(1))));
        assert_eq!(decimal_enclosure("-1e-400").map(|(l, h)| (l, h == 0.0)), Some((-f64::from_bits(1), true)));
        // subnormals: 5e-324 lies between the smallest subnormal and twice it, 1e-323 above twice it
        assert_eq!(decimal_enclosure("5e-324"), Some((f64::from_bits(1), f64::from_bits(2))));
        assert_eq!(decimal_enclosure("1e-323"), Some((f64::from_bits(2), f64::from_bits(3))));
        // exactly representable, but with more digits than the fast path reads
        assert_eq!(decimal_enclosure("0.1000000000000000055511151231257827021181583404541015625"), Some((tenth, tenth)));
        assert_eq!(decimal_enclosure("0.10000000000000000555111512312578270211815834045410156250001"), Some((tenth, tenth.next_up())));
        assert_eq!(decimal_enclosure("2.2250738585072014e-308").map(|(l, h)| l < h), Some(true));
        assert_eq!(decimal_enclosure("4.9406564584124654e-324").map(|(l, h)| l < h), Some(true));
        assert_eq!(decimal_enclosure("1e400").map(|(_, h)| h), Some(f64::INFINITY));
        for bad in ["", "-", ".", "e5", "1e", "1.2.3", "0x10", "inf", "nan", "1_0"] {
            assert_eq!(decimal_enclosure(bad), None, "{bad}");
        }
    }

    /// A strict bound against a non-strict one on the same double leaves no
    /// real number: refused as contradictory, as `X >= 1, X <= 0` is; the
    /// same bounds without the strictness keep the one point.
    #[test]
    fn a_strict_bound_meeting_its_opposite_bound_is_contradictory() {
        for text in ["(assert (> X_0 1))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))", "(assert (>= X_0 1))(assert (< X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))", "(assert (> X_0 -0.5))(assert (< X_0 -0.5))(assert (>= X_1 0))(assert (<= X_1 1))"] {
            let error = read_input_bounds(text, 2).expect_err(text);
            assert!(error.context.contains("contradictory") && error.context.contains("X_0: no number is"), "{text}: {}", error.context);
        }
        let boxes = read_input_bounds("(assert (>= X_0 1))(assert (<= X_0 1))(assert (>= X_1 0))(assert (<= X_1 1))", 2).unwrap();
        let set = InputSet::from_enclosed_box(&boxes[0].0, &boxes[0].1).unwrap();
        assert!(set.holds(&[1.0, 0.5]));
    }

    /// Bounds within one rounding of each other are compared as written:
    /// contradictory ones are refused, consistent ones kept (as sets with
    /// no double when no double lies between them).
    #[test]
    fn bounds_within_one_rounding_are_compared_as_written() {
        let box_of = |bounds: &str| format!("{bounds}(assert (>= X_1 0))(assert (<= X_1 1))");
        for bounds in [
            "(assert (> X_0 0.1))(assert (<= X_0 0.1))",
            "(assert (> X_0 0.1))(assert (< X_0 0.1))",
            "(assert (= X_0 0.1))(assert (< X_0 0.1))",
            "(assert (>= X_0 0.10000000000000001))(assert (<= X_0 0.1))",
            "(assert (<= 0.100000000000000007 X_0 0.100000000000000006))",
            "(assert (>= X_0 (- 0.1)))(assert (<= X_0 (- 0.10000000000000001)))",
            "(assert (>= X_0 -0.1))(assert (<= X_0 (- (- -0.10000000000000001))))",
            "(assert (>= X_0 0.3))(assert (>= X_0 0.1))(assert (<= X_0 0.30000000000000000001))(assert (<= X_0 0.29999999999999999999))",
        ] {
            let error = read_input_bounds(&box_of(bounds), 2).expect_err(bounds);
            assert!(error.context.contains("contradictory") && error.context.contains("X_0: no number is"), "{bounds}: {}", error.context);
        }
        let error = read_input_bounds(&box_of("(assert (> X_0 0.1))(assert (<= X_0 0.1))"), 2).unwrap_err();
        assert!(error.context.contains("> 0.1 and <= 0.1"), "{}", error.context);
        let error = read_input_bounds(&box_of("(assert (>= X_0 (- 0.1)))(assert (<= X_0 (- 0.10000000000000001)))"), 2).unwrap_err();
        assert!(error.context.contains(">= -0.1 and <= -0.10000000000000001"), "{}", error.context);
        for bounds in [
            "(assert (>= X_0 0.1))(assert (<= X_0 0.1))",
            "(assert (= X_0 0.1))",
            "(assert (>= X_0 0.100000000000000006))(assert (<= X_0 0.100000000000000007))",
            "(assert (>= X_0 (- 0.10000000000000001)))(assert (<= X_0 -0.1))",
            "(assert (>= X_0 0.3))(assert (<= X_0 0.30000000000000000001))(assert (<= X_0 0.5))",
        ] {
            let boxes = read_input_bounds(&box_of(bounds), 2).expect(bounds);
            InputSet::from_enclosed_box(&boxes[0].0, &boxes[0].1).expect(bounds);
        }
        // many inputs with bounds within one rounding: one pass decides them all
        let dim = 50_000;
        let text: String = (0..dim).map(|i| format!("(assert (>= X_{i} 0.1))(assert (<= X_{i} 0.1))")).collect();
        assert_eq!(read_input_bounds(&text, dim).unwrap().len(), 1);
        let error = read_input_bounds(&format!("{text}(assert (< X_{} 0.1))", dim - 1), dim).unwrap_err();
        assert!(error.context.contains(&format!("X_{}: no number is >= 0.1 and < 0.1", dim - 1)), "{}", error.context);
        // a link between two numbers in a chain is decided as written
        for chain in ["(assert (<= 0 X_0 0.3 0.2))", "(assert (< 0 X_0 0.2 0.2))", "(assert (<= 0.3 0.2 X_0 1))", "(assert (= X_0 0.5 0.25))", "(assert (<= 0 X_0 1 (- 1)))", "(assert (<= 0 X_0 1))(assert (<= 1 0))"] {
            let error = read_input_bounds(&box_of(chain), 2).expect_err(chain);
            assert!(error.context.contains("contradictory"), "{chain}: {}", error.context);
        }
        for chain in ["(assert (<= 0 X_0 0.2 0.3))", "(assert (<= 0 X_0 0.2 0.2))", "(assert (= X_0 0.5 0.50))", "(assert (<= 0 X_0 1))(assert (<= (- 1) 0))", "(assert (<= 0 X_0 1))(assert (<= Y_0 0.2))"] {
            assert!(read_input_bounds(&box_of(chain), 2).is_ok(), "{chain}");
        }
        // a union keeps its consistent boxes and drops the contradictory one
        let boxes = read_input_bounds("(assert (or (and (> X_0 0.1) (<= X_0 0.1)) (and (>= X_0 0) (<= X_0 1))))(assert (>= X_1 0))(assert (<= X_1 1))", 2).unwrap();
        assert_eq!(boxes.len(), 1);
    }

    /// Decimals compared exactly with each other, signs and zeros included.
    #[test]
    fn decimals_compare_exactly() {
        use std::cmp::Ordering::{Equal, Greater, Less};
        for (a, b, order) in [
            ("0.10000000000000001", "0.1", Greater),
            ("0.1", "0.1000", Equal),
            ("1e-1", ".1", Equal),
            ("-0", "0", Equal),
            ("-0.0e5", "+0", Equal),
            ("-0.1", "-0.10000000000000001", Greater),
            ("-1e-400", "0", Less),
            ("1e-400", "0", Greater),
            ("1e-400", "2e-401", Greater),
            ("12.5", "1.25e1", Equal),
            ("99", "1e2", Less),
            ("-99", "-1e2", Greater),
            ("3", "-3", Greater),
        ] {
            assert_eq!(compare_decimals(a, b), Some(order), "{a} against {b}");
            assert_eq!(compare_decimals(b, a), Some(order.reverse()), "{b} against {a}");
        }
        assert_eq!(compare_decimals("0.1", "x"), None);
        // exponents beyond +-2^40 are kept only approximately: not compared
        // unless the signs decide
        assert_eq!(compare_decimals("2e-1099511627777", "1e-1099511627776"), None);
        assert_eq!(compare_decimals("1e-1099511627776", "1e-1099511627777"), None);
        assert_eq!(compare_decimals("1e-1099511627776", "0"), Some(Greater));
        assert_eq!(compare_decimals("-1e-1099511627776", "1e-1099511627777"), Some(Less));
        assert_eq!(compare_decimals("1e-1099511627775", "1e-1099511627774"), Some(Less));
        // such bounds are kept, as a set that may hold no double
        assert!(read_input_bounds("(assert (>= X_0 2e-1099511627777))(assert (<= X_0 1e-1099511627776))", 1).is_ok());
        // and left out where other bounds contradict each other
        let error = read_input_bounds("(assert (>= X_0 0.10000000000000001))(assert (<= X_0 0.1))(assert (>= X_0 1e-1099511627777))", 1).unwrap_err();
        assert!(error.context.contains("X_0: no number is >= 0.10000000000000001 and <= 0.1"), "{}", error.context);
    }

    /// Decimals among the subnormals and below them: the written box holds
    /// the doubles that lie in the decimal box, here twice the smallest
    /// subnormal in [5e-324, 1e-323], and 0 in [0, 1e-400].
    #[test]
    fn subnormal_decimals_keep_the_doubles_between_them() {
        let boxes = read_input_bounds("(assert (>= X_0 5e-324))(assert (<= X_0 1e-323))(assert (>= X_1 0))(assert (<= X_1 1e-400))", 2).unwrap();
        let set = InputSet::from_enclosed_box(&boxes[0].0, &boxes[0].1).unwrap();
        assert!(!set.written_holds_no_double());
        assert!(set.holds(&[f64::from_bits(2), 0.0]));
        assert!(!set.holds(&[f64::from_bits(1), 0.0]) && !set.holds(&[f64::from_bits(3), 0.0]) && !set.holds(&[f64::from_bits(2), f64::from_bits(1)]));
    }

    #[test]
    fn the_written_box_is_rounded_inward_and_strict_bounds_exclude_their_number() {
        let boxes = read_input_bounds("(assert (< X_0 1))(assert (>= X_0 0.1))(assert (= X_1 0.5))(assert (= X_2 0.1))(assert (> X_3 -2))(assert (<= X_3 3))", 4).unwrap();
        let set = InputSet::from_enclosed_box(&boxes[0].0, &boxes[0].1).unwrap();
        assert_eq!(set.lower(), &[0.1f64.next_down(), 0.5, 0.1f64.next_down(), -2.0]);
        assert_eq!(set.upper(), &[1.0, 0.5, 0.1f64, 3.0]);
        // fl(0.1) > 1/10 satisfies X_0 >= 0.1
        assert_eq!(set.written_lower(), &[0.1f64, 0.5, 0.1f64, (-2f64).next_up()]);
        assert_eq!(set.written_upper(), &[1f64.next_down(), 0.5, 0.1f64.next_down(), 3.0]);
        // X_2 = 0.1 has no double: no point can be a witness of this box
        assert!(!set.holds(&[0.5, 0.5, 0.1, 0.0]));
    }

    #[test]
    fn conjunction_on_one_line_and_inside_and() {
        let text = "; ACAS-like\n(declare-const X_0 Real)(declare-const X_1 Real)\n(declare-const Y_0 Real)\n\
                    (assert (<= X_0 0.5)) (assert (>= X_0 -0.5))\n\
                    (assert (and (<= X_1 0.0095) (>= X_1 -0.0095)))\n\
                    (assert (<= Y_0 Y_0)) ; output\n";
        let (lower, upper) = one(text, 2);
        assert_eq!(lower, vec![-0.5, (-0.0095f64).next_down()]);
        assert_eq!(upper, vec![0.5, 0.0095f64.next_up()]);
        // the widened bounds contain the decimal: -0.0095 rounds to a value above the decimal or below it
        assert!(lower[1] < -0.0095 && upper[1] > 0.0095);
    }

    #[test]
    fn bounds_across_lines_reversed_strict_chained_and_negated() {
        let text = "(assert\n  (<=\n 0.25\n X_0))\n(assert (< X_0 1))\n(assert (<= -2 X_1 (- 1.5)))\n(assert (> X_2 -1e0))(assert (= X_3 2.5e-1))(assert (< X_2 3E+0))";
        let (lower, upper) = one(text, 4);
        assert_eq!(lower, vec![0.25, -2.0, -1.0, 0.25]);
        assert_eq!(upper, vec![1.0, -1.5, 3.0, 0.25]);
    }

    #[test]
    fn an_or_of_boxes_is_a_union_and_output_disjunctions_are_ignored() {
        let text = "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n\
                    (assert (or (and (<= X_0 1) (>= X_0 0) (<= X_1 1) (>= X_1 0))\n            (and (<= X_0 3) (>= X_0 2) (<= X_1 5) (>= X_1 4))))\n\
                    (assert (or (and (>= Y_0 Y_1)) (and (<= Y_0 -0.5))))\n";
        let sets = read_input_boxes(text, 2).unwrap();
        let got: Vec<_> = sets.iter().map(|s| (s.lower().to_vec(), s.upper().to_vec())).collect();
        assert_eq!(got, vec![(vec![0.0, 0.0], vec![1.0, 1.0]), (vec![2.0, 4.0], vec![3.0, 5.0])]);
    }

    #[test]
    fn disjuncts_mixing_input_and_output_constraints_keep_their_input_box() {
        let text = "(assert (or (and (<= X_0 1) (>= X_0 0) (<= Y_0 3)) (and (<= X_0 2) (>= X_0 1.5) (>= Y_0 Y_1))))";
        let sets = read_input_boxes(text, 1).unwrap();
        let got: Vec<_> = sets.iter().map(|s| (s.lower()[0], s.upper()[0])).collect();
        assert_eq!(got, vec![(0.0, 1.0), (1.5, 2.0)]);
        // a disjunct without input bounds leaves the input unbounded
        let e = err("(assert (or (and (<= X_0 0.5) (>= X_0 0)) (<= Y_0 1)))", 1);
        assert_eq!(e.kind, ErrorKind::InvalidInputSet);
        assert_eq!(e.context, "input X_0 has no bounds: every input needs a lower and an upper bound");
        // ... unless other asserts bound it
        let sets = read_input_boxes("(assert (and (<= X_0 1) (>= X_0 0)))(assert (or (and (<= X_0 0.5) (>= X_0 0)) (<= Y_0 1)))", 1).unwrap();
        assert_eq!((sets.len(), sets[0].lower()[0], sets[0].upper()[0]), (1, 0.0, 1.0));
    }

    #[test]
    fn and_of_ors_expands_to_the_product_and_empty_boxes_are_dropped() {
        let text = "(assert (and (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))) (or (and (>= X_0 0.5) (<= X_0 2.5)) (and (>= X_0 10) (<= X_0 11)))))";
        let sets = read_input_boxes(text, 1).unwrap();
        let got: Vec<_> = sets.iter().map(|s| (s.lower()[0], s.upper()[0])).collect();
        assert_eq!(got, vec![(0.5, 1.0), (2.0, 2.5)]);
        let e = err("(assert (and (>= X_0 2) (<= X_0 1)))", 1);
        assert_eq!(e.context, "the input constraints are contradictory: X_0 has lower bound 2 > upper bound 1");
    }

    #[test]
    fn unbounded_and_out_of_range_inputs_are_named() {
        let e = err("(assert (<= X_0 0.5))", 1);
        assert_eq!(e.context, "input X_0 has no lower bound: every input needs a lower and an upper bound");
        let e = err("(assert (<= X_0 0.5))(assert (>= X_0 0))", 2);
        assert_eq!(e.context, "input X_1 has no bounds: every input needs a lower and an upper bound");
        let e = err("(assert (<= X_7 0.5))", 2);
        assert_eq!((e.kind, e.context.as_str()), (ErrorKind::ShapeMismatch, "line 1: X_7 names an input beyond the network's 2 (X_0 to X_1)"));
        // too many digits for any index, declared or compared: named, not ignored
        let e = err("(declare-const X_18446744073709551616 Real)\n(assert (<= X_0 1))(assert (>= X_0 0))", 1);
        assert_eq!((e.kind, e.context.as_str()), (ErrorKind::ShapeMismatch, "line 1: X_18446744073709551616 names an input beyond the network's 1 (X_0 to X_0)"));
        let e = err("(assert (<= X_0 1))(assert (>= X_0 0))(assert (<= X_99999999999999999999 1))", 1);
        assert_eq!(e.kind, ErrorKind::ShapeMismatch, "{}", e.context);
        // a symbol of a million digits is quoted cut
        let e = err(&format!("(declare-const X_{} Real)", "7".repeat(1_000_000)), 1);
        assert!(e.context.len() < 200 && e.context.contains("..."), "{}", &e.context[..200.min(e.context.len())]);
        // a leading zero makes another symbol than an input
        let e = err("(declare-const X_0 Real)\n(declare-const X_00 Real)", 1);
        assert_eq!((e.kind, e.context.as_str()), (ErrorKind::Malformed, "line 2: 'X_00' is not an input name (inputs are X_0 to X_0, without leading zeros)"));
        let e = err("(assert (<= X_00 1.0))", 1);
        assert_eq!(e.context, "line 1: 'X_00' is not an input name (inputs are X_0 to X_0, without leading zeros)");
        let e = err("(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const X_2 Real)", 2);
        assert_eq!(e.context, "line 3: declares X_2 but the network has 2 inputs");
        let e = err("(declare-const X_0 Real)\n(assert (<= X_0 1))(assert (>= X_0 0))", 2);
        assert_eq!(e.context, "the file declares 1 inputs but the network has 2");
    }

    #[test]
    fn malformed_text_gives_one_line_errors() {
        let cases: &[(&str, ErrorKind, &str)] = &[
            ("(assert (<= X_0 1)", ErrorKind::Malformed, "line 1: '(' is never closed"),
            ("(assert (<= X_0 1)))", ErrorKind::Malformed, "line 1: ')' without a matching '('"),
            ("(assert (<= X_0 abc))", ErrorKind::Unsupported, "line 1: X_0 is compared with 'abc', not with a number"),
            ("\n(assert (<= X_0 1.2.3))", ErrorKind::Malformed, "line 2: '1.2.3' is not a number"),
            ("(assert (<= X_0 nan))", ErrorKind::Malformed, "line 1: 'nan' is not a finite number"),
            ("(assert (<= X_0 -inf))", ErrorKind::Malformed, "line 1: '-inf' is not a finite number"),
            ("(assert (<= X_0 1e999))", ErrorKind::Malformed, "line 1: '1e999' is too large for a 64-bit float"),
            ("(assert (<= X_0 X_1))", ErrorKind::Unsupported, "line 1: only bounds of one input by a number are supported, not '(<= X_0 X_1)'"),
            // X_00 is not X_0 (another symbol, never declared): named as such
            ("(assert (<= X_00 1))", ErrorKind::Malformed, "line 1: 'X_00' is not an input name (inputs are X_0 to X_0, without leading zeros)"),
            ("(assert (not (<= X_0 1)))", ErrorKind::Unsupported, "line 1: 'not' around input constraints is not supported"),
            ("(assert (<= X_0))", ErrorKind::Malformed, "line 1: '<=' needs two operands"),
            ("(assert)", ErrorKind::Malformed, "line 1: assert takes one formula, found 0"),
            ("(define-fun f () Real 1.0)", ErrorKind::Unsupported, "line 1: unsupported command 'define-fun'"),
            ("assert", ErrorKind::Malformed, "line 1: expected a command in parentheses, found 'assert'"),
            ("(assert |X_0)", ErrorKind::Malformed, "line 1: unterminated quoted symbol"),
            ("(assert (<= X_0 |a\nb|))", ErrorKind::Unsupported, "line 1: X_0 is compared with 'a b', not with a number"),
        ];
        for (text, kind, message) in cases {
            let e = err(text, 1);
            assert_eq!((e.kind, e.context.as_str()), (*kind, *message), "{text}");
        }
    }

    /// A string literal is one atom: the parentheses, semicolons and
    /// asserts written inside it are text, not formulas (read as formulas,
    /// a `set-info` string could add a constraint and shrink the set, or
    /// comment out a real one and widen it).
    #[test]
    fn string_literals_are_text_not_formulas() {
        let added = "(declare-const X_0 Real)\n(set-info :source \"x) (assert (<= X_0 0)) (set-info :n \")\n(assert (>= X_0 0))\n(assert (<= X_0 1))";
        assert_eq!(one(added, 1), (vec![0.0], vec![1.0]));
        let hidden = "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(set-info :source \"see notes; radius halved\")\n(assert (<= X_0 0.5))\n(set-info :notes \")\")";
        assert_eq!(one(hidden, 1), (vec![0.0], vec![0.5]));
        // "" is a quote inside the string; lines inside it are counted
        let escaped = "(set-info :a \"say \"\"(assert (<= X_0 0))\"\" \n twice\")\n(assert (>= X_0 -1))(assert (<= X_0 2))\n(assert (<= X_0 abc))";
        assert_eq!(err(escaped, 1).context, "line 4: X_0 is compared with 'abc', not with a number");
        assert_eq!(err("(set-info :a \"open)", 1).context, "line 1: unterminated string literal");
        // a string is never a number
        assert_eq!(err("(assert (<= X_0 \"1\"))", 1).kind, ErrorKind::Unsupported);
    }

    #[test]
    fn deep_nesting_and_huge_unions_are_refused_without_overflow() {
        let deep = format!("(assert {}{})", "(".repeat(100_000), ")".repeat(100_000));
        let e = err(&deep, 1);
        assert_eq!(e.context, format!("line 1: parentheses nested deeper than {MAX_DEPTH}"));
        // 2^30 boxes from 30 two-way disjunctions
        let or = "(or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3)))";
        let text = format!("(assert (and {}))", or.repeat(30));
        let e = err(&text, 1);
        assert_eq!(e.kind, ErrorKind::Unsupported);
        assert!(e.context.starts_with("line 1: the formula expands to more than"), "{}", e.context);
    }
}
