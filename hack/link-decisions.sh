#!/usr/bin/env bash
# link-decisions.sh links "decision N" citations in Go comments to their entry
# in docs/design/decisions.md, so a reader can open what the comment cites:
#
#   decision 5             -> decision 5 (docs/design/decisions.md#d5)
#   Decision 9: ...        -> Decision 9 (docs/design/decisions.md#d9): ...
#   decision 4's bound     -> decision 4's (docs/design/decisions.md#d4) bound
#   decisions 1 and 3      -> decisions 1 and 3 (docs/design/decisions.md#d1, #d3)
#   decisions 17–20        -> decisions 17–20 (docs/design/decisions.md#d17, #d18, #d19, #d20)
#
# Only comment text changes (// and /* */ comments; string literals, test names
# and messages are left alone), a citation wrapped over two comment lines
# ("decision" / "// 5") is linked on the second line, and a citation already
# followed by its link is skipped, so running it twice changes nothing.
#
# Usage: hack/link-decisions.sh [--check] [--exclude PATH]... [PATH...]
#   PATH       Go files or directories (default: every tracked *.go file)
#   --exclude  skip files under PATH (repeatable)
#   --check    change nothing; list the files that still have bare citations
#              and exit 1 if there are any
set -euo pipefail

cd "$(git rev-parse --show-toplevel)"

check=0
excludes=()
paths=()
while (($#)); do
	case $1 in
	--check) check=1 ;;
	--exclude) excludes+=("${2%/}"); shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) paths+=("$1") ;;
	esac
	shift
done

files=()
while IFS= read -r f; do
	skip=0
	for x in "${excludes[@]+"${excludes[@]}"}"; do
		[[ $f == "$x" || $f == "$x"/* ]] && skip=1
	done
	((skip)) || files+=("$f")
done < <(
	if ((${#paths[@]})); then
		for p in "${paths[@]}"; do
			if [[ -d $p ]]; then find "${p%/}" -name '*.go' -not -path '*/testdata/*' | sort; else echo "$p"; fi
		done
	else
		git ls-files '*.go'
	fi
)
((${#files[@]})) || exit 0

CHECK=$check perl -e '
use strict; use warnings; use utf8;
binmode STDOUT, ":utf8";
my $doc = "docs/design/decisions.md";
my $num = qr/\d+(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|\s*[\x{2013}-]\s*)\d+)*/;

# anchors turns "1 and 3" / "17–20" into "#d1, #d3" / "#d17, #d18, #d19, #d20".
sub anchors {
	my ($list) = @_;
	my @n;
	while ($list =~ /(\d+)(?:\s*[\x{2013}-]\s*(\d+))?/g) {
		push @n, defined $2 && $2 > $1 && $2 - $1 < 50 ? ($1 .. $2) : ($1, defined $2 ? $2 : ());
	}
	my $a = join ", ", map { "#d$_" } @n;
	$a =~ s/^#/$doc#/;
	return $a;
}

# link rewrites the citations in one piece of comment text.
sub link_citations {
	my ($t) = @_;
	$t =~ s{\b((?>[Dd]ecisions?\s+$num(?!\d)(?:\x{2019}s|\x27s)?+))(?!\s*\(\Q$doc\E)}{
		my $c = $1; my ($l) = $c =~ /($num)/; "$c (" . anchors($l) . ")"
	}ge;
	return $t;
}

# segments splits a line into [text, is_comment] pieces; $st carries raw
# string and block comment state across lines.
sub segments {
	my ($line, $st) = @_;
	my @seg; my $start = 0; my $i = 0; my $n = length $line;
	my $push = sub { my ($end, $c) = @_; push @seg, [substr($line, $start, $end - $start), $c] if $end > $start; $start = $end };
	while ($i < $n) {
		my $ch = substr($line, $i, 1);
		if ($st->{block}) {
			if (substr($line, $i, 2) eq "*/") { $i += 2; $push->($i, 1); $st->{block} = 0 } else { $i++ }
		} elsif ($st->{raw}) {
			$st->{raw} = 0 if $ch eq "`"; $i++;
		} elsif ($ch eq "\"" || $ch eq "\x27") {
			my $q = $ch; $i++;
			while ($i < $n) { my $c = substr($line, $i, 1); $i += $c eq "\\" ? 2 : 1; last if $c eq $q }
		} elsif ($ch eq "`") {
			$st->{raw} = 1; $i++;
		} elsif (substr($line, $i, 2) eq "//") {
			$push->($i, 0); $push->($n, 1); $i = $n;
		} elsif (substr($line, $i, 2) eq "/*") {
			$push->($i, 0); $st->{block} = 1; $i += 2;
		} else { $i++ }
	}
	$push->($n, $st->{block} ? 1 : 0);
	return @seg;
}

my $bad = 0;
for my $file (@ARGV) {
	open my $in, "<:utf8", $file or die "$file: $!\n";
	my @lines = <$in>; close $in;
	my %st = (raw => 0, block => 0);
	my $wrapped = 0; my $changed = 0;
	for my $line (@lines) {
		my $nl = $line =~ s/(\r?\n)\z// ? $1 : "";
		my $out = "";
		my $lead = 1; # only blanks so far: a wrapped number may open the comment
		my $tail = 0; # the line ends in a comment that ends with "decision"
		for my $s (segments($line, \%st)) {
			my ($t, $c) = @$s;
			if ($c) {
				if ($lead && $wrapped) {
					$t =~ s{^(\s*(?://|/\*|\*)?\s*)((?>$num(?!\d)))(?!\s*\(\Q$doc\E)}{"$1$2 (" . anchors($2) . ")"}e;
				}
				$t = link_citations($t);
				$tail = $t =~ /\b[Dd]ecisions?\s*\z/ ? 1 : 0;
			} else {
				$tail = 0 if $t =~ /\S/;
			}
			$lead = 0 if $t =~ /\S/;
			$out .= $t;
		}
		$wrapped = $tail;
		if ($out ne $line) { $changed = 1 }
		$line = $out . $nl;
	}
	next unless $changed;
	if ($ENV{CHECK}) { print "$file\n"; $bad = 1; next }
	open my $o, ">:utf8", $file or die "$file: $!\n";
	print $o @lines; close $o;
	print "linked $file\n";
}
exit $bad;
' "${files[@]}"
