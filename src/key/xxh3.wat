;; xxh3: XXH3-128 with a 64-bit seed (XXH3_128bits_withSeed), bit-exact, long inputs in SIMD.
;;
;; Why XXH3, and why our own module: a content key hashes ~2 KB (a 1 KB chunk as UTF-16 code
;; units) on every get and set. XXH64 is a serial chain of 64-bit multiplies per 8-byte word;
;; XXH3's long-input loop multiplies 32 × 32 → 64 bits per 8-byte lane with no dependence
;; between lanes, which is what a v128 does (i64x2.extmul: two lanes per pmuludq). The npm XXH3
;; packages copy the input into their own memory and return a BigInt or a string; here the text
;; is written straight into this module's memory (key/xxh3.ts) and the key read back as words.
;;
;; The algorithm follows the XXH3 specification (xxhash_spec.md of the xxHash project):
;; inputs of 0, 1–3, 4–8, 9–16, 17–128 and 129–240 bytes take scalar paths over the default
;; 192-byte secret and the seed; longer ones run 8 u64 accumulators over 64-byte stripes, with
;; the secret derived from the seed (each u64 pair of the default secret + seed, − seed), and a
;; scramble every 1024-byte block. Tests compare every length up to 2100, random inputs and
;; seeds, and a 1 MB input with an independent implementation (test/unit/key/xxh3-*.test.ts).
;;
;; What V8 (x64) makes of it, measured on 2 KB: the stripe loop is bound by shuffles, so the
;; accumulators are kept lane-swapped (see $long) and the products use extmul on gathered 32-bit
;; halves rather than i64x2.mul, which V8 lowers to three pmuludq and shifts (~45% slower here).
;; wasm has no 64 × 64 → 128-bit multiply and V8 does not inline wasm calls: $fold writes the
;; four 32 × 32 partial products out, and the long path's final merge does its eight folds two at
;; a time in SIMD ($fold2), which took it from about a quarter of a 2 KB hash to about a sixth.
;;
;; Memory (bytes):
;;   [0, 192)     the default secret (kSecret), so that a secret offset is its address
;;   [192, 384)   the secret derived from $seed (long inputs only), remade when the seed changes
;;   [448, 464)   the result: low u64, high u64 (little-endian)
;;   [512, …)     free for the input; xxh3.ts grows the memory for long inputs
(module
  (memory (export "memory") 1)

  (data (i32.const 0)
    "\b8\fe\6c\39\23\a4\4b\be\7c\01\81\2c\f7\21\ad\1c"
    "\de\d4\6d\e9\83\90\97\db\72\40\a4\a4\b7\b3\67\1f"
    "\cb\79\e6\4e\cc\c0\e5\78\82\5a\d0\7d\cc\ff\72\21"
    "\b8\08\46\74\f7\43\24\8e\e0\35\90\e6\81\3a\26\4c"
    "\3c\28\52\bb\91\c3\00\cb\88\d0\65\8b\1b\53\2e\a3"
    "\71\64\48\97\a2\0d\f9\4e\38\19\ef\46\a9\de\ac\d8"
    "\a8\fa\76\3f\e3\9c\34\3f\f9\dc\bb\c7\c7\0b\4f\1d"
    "\8a\51\e0\4b\cd\b4\59\31\c8\9f\7e\c9\d9\78\73\64"
    "\ea\c5\ac\83\34\d3\eb\c3\c5\81\a0\ff\fa\13\63\eb"
    "\17\0d\dd\51\b7\f0\da\49\d3\16\55\26\29\d4\68\9e"
    "\2b\16\be\58\7d\47\a1\fc\8f\f8\b8\d1\7a\d0\31\ce"
    "\45\cb\3a\8f\95\16\04\28\af\d7\fb\ca\bb\4b\40\7e")

  (global $P32_1 i64 (i64.const 0x9E3779B1))
  (global $P32_2 i64 (i64.const 0x85EBCA77))
  (global $P32_3 i64 (i64.const 0xC2B2AE3D))
  (global $P64_1 i64 (i64.const 0x9E3779B185EBCA87))
  (global $P64_2 i64 (i64.const 0xC2B2AE3D27D4EB4F))
  (global $P64_3 i64 (i64.const 0x165667B19E3779F9))
  (global $P64_4 i64 (i64.const 0x85EBCA77C2B2AE63))
  (global $P64_5 i64 (i64.const 0x27D4EB2F165667C5))
  (global $MX1 i64 (i64.const 0x165667919E3779F9))
  (global $MX2 i64 (i64.const 0x9FB21C651E98DF25))

  ;; Where the derived secret lives, and the seed it was derived from (0 derives kSecret itself).
  (global $CUSTOM i32 (i32.const 192))
  (global $derivedFor (mut i64) (i64.const 0))
  ;; The high half of the last $mul128, and the two accumulators of the 17–240-byte paths.
  (global $hi (mut i64) (i64.const 0))
  (global $accLo (mut i64) (i64.const 0))
  (global $accHi (mut i64) (i64.const 0))

  (start $init)
  (func $init (call $derive (i64.const 0)))

  ;; customSecret[16i..16i+8) = kSecret[…] + seed, customSecret[16i+8..16i+16) = kSecret[…] − seed
  (func $derive (param $seed i64)
    (local $i i32) (local $v v128)
    (local.set $v
      (i64x2.replace_lane 1
        (i64x2.splat (local.get $seed))
        (i64.sub (i64.const 0) (local.get $seed))))
    (loop $l
      (v128.store offset=192 (local.get $i) (i64x2.add (v128.load (local.get $i)) (local.get $v)))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 192))))
    (global.set $derivedFor (local.get $seed)))

  ;; The low 64 bits of a × b; the high 64 bits go to $hi.
  (func $mul128 (param $a i64) (param $b i64) (result i64)
    (local $al i64) (local $ah i64) (local $bl i64) (local $bh i64)
    (local $ll i64) (local $hl i64) (local $lh i64) (local $cross i64)
    (local.set $al (i64.and (local.get $a) (i64.const 0xFFFFFFFF)))
    (local.set $ah (i64.shr_u (local.get $a) (i64.const 32)))
    (local.set $bl (i64.and (local.get $b) (i64.const 0xFFFFFFFF)))
    (local.set $bh (i64.shr_u (local.get $b) (i64.const 32)))
    (local.set $ll (i64.mul (local.get $al) (local.get $bl)))
    (local.set $hl (i64.mul (local.get $ah) (local.get $bl)))
    (local.set $lh (i64.mul (local.get $al) (local.get $bh)))
    ;; at most 3 × (2^32 − 1) < 2^34: no carry is lost
    (local.set $cross
      (i64.add
        (i64.add (i64.shr_u (local.get $ll) (i64.const 32)) (i64.and (local.get $hl) (i64.const 0xFFFFFFFF)))
        (local.get $lh)))
    (global.set $hi
      (i64.add
        (i64.add (i64.shr_u (local.get $hl) (i64.const 32)) (i64.shr_u (local.get $cross) (i64.const 32)))
        (i64.mul (local.get $ah) (local.get $bh))))
    (i64.mul (local.get $a) (local.get $b)))

  ;; low ^ high of a × b ($mul128 written out: this is the 17–240-byte paths' inner step)
  (func $fold (param $a i64) (param $b i64) (result i64)
    (local $al i64) (local $ah i64) (local $bl i64) (local $bh i64) (local $ll i64) (local $hl i64) (local $cross i64)
    (local.set $al (i64.and (local.get $a) (i64.const 0xFFFFFFFF)))
    (local.set $ah (i64.shr_u (local.get $a) (i64.const 32)))
    (local.set $bl (i64.and (local.get $b) (i64.const 0xFFFFFFFF)))
    (local.set $bh (i64.shr_u (local.get $b) (i64.const 32)))
    (local.set $ll (i64.mul (local.get $al) (local.get $bl)))
    (local.set $hl (i64.mul (local.get $ah) (local.get $bl)))
    (local.set $cross
      (i64.add
        (i64.add (i64.shr_u (local.get $ll) (i64.const 32)) (i64.and (local.get $hl) (i64.const 0xFFFFFFFF)))
        (i64.mul (local.get $al) (local.get $bh))))
    (i64.xor
      (i64.mul (local.get $a) (local.get $b))
      (i64.add
        (i64.add (i64.shr_u (local.get $hl) (i64.const 32)) (i64.shr_u (local.get $cross) (i64.const 32)))
        (i64.mul (local.get $ah) (local.get $bh)))))

  (func $avalanche (param $h i64) (result i64)
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 37))) (global.get $MX1)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))

  (func $avalancheXXH64 (param $h i64) (result i64)
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 33))) (global.get $P64_2)))
    (local.set $h (i64.mul (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 29))) (global.get $P64_3)))
    (i64.xor (local.get $h) (i64.shr_u (local.get $h) (i64.const 32))))

  (func $bswap32 (param $x i32) (result i32)
    (i32x4.extract_lane 0
      (i8x16.shuffle 3 2 1 0 4 5 6 7 8 9 10 11 12 13 14 15
        (i32x4.splat (local.get $x)) (i32x4.splat (local.get $x)))))

  (func $bswap64 (param $x i64) (result i64)
    (i64x2.extract_lane 0
      (i8x16.shuffle 7 6 5 4 3 2 1 0 8 9 10 11 12 13 14 15
        (i64x2.splat (local.get $x)) (i64x2.splat (local.get $x)))))

  (func $result (param $lo i64) (param $hi i64)
    (i64.store (i32.const 448) (local.get $lo))
    (i64.store (i32.const 456) (local.get $hi)))

  ;; ---- 0 to 16 bytes ----

  (func $len0 (param $seed i64)
    (call $result
      (call $avalancheXXH64
        (i64.xor (local.get $seed) (i64.xor (i64.load (i32.const 64)) (i64.load (i32.const 72)))))
      (call $avalancheXXH64
        (i64.xor (local.get $seed) (i64.xor (i64.load (i32.const 80)) (i64.load (i32.const 88)))))))

  (func $len1to3 (param $p i32) (param $len i32) (param $seed i64)
    (local $c i32)
    ;; last byte | len << 8 | first byte << 16 | middle byte << 24
    (local.set $c
      (i32.or
        (i32.or
          (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 1)))
          (i32.shl (local.get $len) (i32.const 8)))
        (i32.or
          (i32.shl (i32.load8_u (local.get $p)) (i32.const 16))
          (i32.shl (i32.load8_u (i32.add (local.get $p) (i32.shr_u (local.get $len) (i32.const 1)))) (i32.const 24)))))
    (call $result
      (call $avalancheXXH64
        (i64.xor
          (i64.extend_i32_u (local.get $c))
          (i64.add
            (i64.extend_i32_u (i32.xor (i32.load (i32.const 0)) (i32.load (i32.const 4))))
            (local.get $seed))))
      (call $avalancheXXH64
        (i64.xor
          (i64.extend_i32_u (i32.rotl (call $bswap32 (local.get $c)) (i32.const 13)))
          (i64.sub
            (i64.extend_i32_u (i32.xor (i32.load (i32.const 8)) (i32.load (i32.const 12))))
            (local.get $seed))))))

  (func $len4to8 (param $p i32) (param $len i32) (param $seed i64)
    (local $keyed i64) (local $lo i64) (local $hi i64)
    (local.set $seed
      (i64.xor (local.get $seed)
        (i64.shl (i64.extend_i32_u (call $bswap32 (i32.wrap_i64 (local.get $seed)))) (i64.const 32))))
    ;; first 4 bytes | last 4 bytes << 32, keyed
    (local.set $keyed
      (i64.xor
        (i64.or
          (i64.load32_u (local.get $p))
          (i64.shl
            (i64.load32_u (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 4)))
            (i64.const 32)))
        (i64.add (i64.xor (i64.load (i32.const 16)) (i64.load (i32.const 24))) (local.get $seed))))
    (local.set $lo
      (call $mul128
        (local.get $keyed)
        (i64.add (global.get $P64_1) (i64.extend_i32_u (i32.shl (local.get $len) (i32.const 2))))))
    (local.set $hi (i64.add (global.get $hi) (i64.shl (local.get $lo) (i64.const 1))))
    (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $hi) (i64.const 3))))
    (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $lo) (i64.const 35))))
    (local.set $lo (i64.mul (local.get $lo) (global.get $MX2)))
    (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $lo) (i64.const 28))))
    (call $result (local.get $lo) (call $avalanche (local.get $hi))))

  (func $len9to16 (param $p i32) (param $len i32) (param $seed i64)
    (local $first i64) (local $last i64) (local $lo i64) (local $hi i64)
    (local.set $first (i64.load (local.get $p)))
    (local.set $last (i64.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 8))))
    (local.set $lo
      (call $mul128
        (i64.xor
          (i64.xor (local.get $first) (local.get $last))
          (i64.sub (i64.xor (i64.load (i32.const 32)) (i64.load (i32.const 40))) (local.get $seed)))
        (global.get $P64_1)))
    (local.set $lo
      (i64.add (local.get $lo)
        (i64.shl (i64.extend_i32_u (i32.sub (local.get $len) (i32.const 1))) (i64.const 54))))
    (local.set $last
      (i64.xor (local.get $last)
        (i64.add (i64.xor (i64.load (i32.const 48)) (i64.load (i32.const 56))) (local.get $seed))))
    (local.set $hi
      (i64.add
        (i64.add (global.get $hi) (local.get $last))
        (i64.mul
          (i64.and (local.get $last) (i64.const 0xFFFFFFFF))
          (i64.sub (global.get $P32_2) (i64.const 1)))))
    (local.set $lo (i64.xor (local.get $lo) (call $bswap64 (local.get $hi))))
    ;; {lo, hi} × P64_2 as a 128 × 64 → 128-bit product
    (local.set $lo (call $mul128 (local.get $lo) (global.get $P64_2)))
    (local.set $hi (i64.add (global.get $hi) (i64.mul (local.get $hi) (global.get $P64_2))))
    (call $result (call $avalanche (local.get $lo)) (call $avalanche (local.get $hi))))

  ;; ---- 17 to 240 bytes: two accumulators ----

  (func $mix16 (param $p i32) (param $s i32) (param $seed i64) (result i64)
    (call $fold
      (i64.xor (i64.load (local.get $p)) (i64.add (i64.load (local.get $s)) (local.get $seed)))
      (i64.xor (i64.load offset=8 (local.get $p)) (i64.sub (i64.load offset=8 (local.get $s)) (local.get $seed)))))

  (func $mix32 (param $a i32) (param $b i32) (param $s i32) (param $seed i64)
    (global.set $accLo
      (i64.xor
        (i64.add (global.get $accLo) (call $mix16 (local.get $a) (local.get $s) (local.get $seed)))
        (i64.add (i64.load (local.get $b)) (i64.load offset=8 (local.get $b)))))
    (global.set $accHi
      (i64.xor
        (i64.add (global.get $accHi) (call $mix16 (local.get $b) (i32.add (local.get $s) (i32.const 16)) (local.get $seed)))
        (i64.add (i64.load (local.get $a)) (i64.load offset=8 (local.get $a))))))

  (func $midFinish (param $len i32) (param $seed i64)
    (local $len64 i64)
    (local.set $len64 (i64.extend_i32_u (local.get $len)))
    (call $result
      (call $avalanche (i64.add (global.get $accLo) (global.get $accHi)))
      (i64.sub (i64.const 0)
        (call $avalanche
          (i64.add
            (i64.add
              (i64.mul (global.get $accLo) (global.get $P64_1))
              (i64.mul (global.get $accHi) (global.get $P64_4)))
            (i64.mul (i64.sub (local.get $len64) (local.get $seed)) (global.get $P64_2)))))))

  (func $len17to128 (param $p i32) (param $len i32) (param $seed i64)
    (local $end i32)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (global.set $accLo (i64.mul (i64.extend_i32_u (local.get $len)) (global.get $P64_1)))
    (global.set $accHi (i64.const 0))
    (if (i32.gt_u (local.get $len) (i32.const 32))
      (then
        (if (i32.gt_u (local.get $len) (i32.const 64))
          (then
            (if (i32.gt_u (local.get $len) (i32.const 96))
              (then
                (call $mix32 (i32.add (local.get $p) (i32.const 48)) (i32.sub (local.get $end) (i32.const 64))
                  (i32.const 96) (local.get $seed))))
            (call $mix32 (i32.add (local.get $p) (i32.const 32)) (i32.sub (local.get $end) (i32.const 48))
              (i32.const 64) (local.get $seed))))
        (call $mix32 (i32.add (local.get $p) (i32.const 16)) (i32.sub (local.get $end) (i32.const 32))
          (i32.const 32) (local.get $seed))))
    (call $mix32 (local.get $p) (i32.sub (local.get $end) (i32.const 16)) (i32.const 0) (local.get $seed))
    (call $midFinish (local.get $len) (local.get $seed)))

  (func $len129to240 (param $p i32) (param $len i32) (param $seed i64)
    (local $i i32) (local $rounds i32)
    (global.set $accLo (i64.mul (i64.extend_i32_u (local.get $len)) (global.get $P64_1)))
    (global.set $accHi (i64.const 0))
    ;; 32-byte rounds 0–3 with secret 32i, an avalanche, rounds 4.. with secret 3 + 32(i − 4)
    (loop $first
      (call $mix32
        (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5)))
        (i32.add (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5))) (i32.const 16))
        (i32.shl (local.get $i) (i32.const 5))
        (local.get $seed))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $first (i32.lt_u (local.get $i) (i32.const 4))))
    (global.set $accLo (call $avalanche (global.get $accLo)))
    (global.set $accHi (call $avalanche (global.get $accHi)))
    (local.set $rounds (i32.shr_u (local.get $len) (i32.const 5)))
    (block $done
      (loop $rest
        (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
        (call $mix32
          (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5)))
          (i32.add (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5))) (i32.const 16))
          (i32.sub (i32.shl (local.get $i) (i32.const 5)) (i32.const 125))
          (local.get $seed))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
    ;; the last 32 bytes, halves swapped, secret 136 − 17 − 16, seed negated
    (call $mix32
      (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 16))
      (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 32))
      (i32.const 103)
      (i64.sub (i64.const 0) (local.get $seed)))
    (call $midFinish (local.get $len) (local.get $seed)))

  ;; ---- more than 240 bytes: 8 accumulators in four v128 ----
  ;;
  ;; A stripe adds data[i] to acc[i ^ 1] and lo32(data[i] ^ key[i]) × hi32(…) to acc[i]. The
  ;; accumulators are kept with the two lanes of each v128 swapped (lane 0 holds acc[2j + 1],
  ;; lane 1 acc[2j]): then data adds without a shuffle, and the products come out swapped for free
  ;; because the shuffle that gathers their 32-bit halves for extmul can put them in either order.
  ;; The scramble (every 1024-byte block) loads its key swapped; the merge swaps back once.
  ;; Per stripe that is 12 shuffles instead of 16, and shuffles are what bound this loop.

  (func $long (param $p i32) (param $len i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $k0 v128) (local $k1 v128) (local $k2 v128) (local $k3 v128)
    (local $x v128) (local $y v128)
    (local $s i32) (local $n i32) (local $blocks i32) (local $b i32) (local $end i32)
    (local $len64 i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    ;; {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1}, lanes swapped
    (local.set $a0 (v128.const i64x2 0x9E3779B185EBCA87 0xC2B2AE3D))
    (local.set $a1 (v128.const i64x2 0x165667B19E3779F9 0xC2B2AE3D27D4EB4F))
    (local.set $a2 (v128.const i64x2 0x85EBCA77 0x85EBCA77C2B2AE63))
    (local.set $a3 (v128.const i64x2 0x9E3779B1 0x27D4EB2F165667C5))
    ;; Runs b < blocks: 16 stripes then a scramble; b = blocks: the stripes left before the last
    ;; byte; b = blocks + 1: the last 64 bytes (which may overlap) with secret 121.
    (local.set $blocks (i32.shr_u (i32.sub (local.get $len) (i32.const 1)) (i32.const 10)))
    (loop $run
      (local.set $s (global.get $CUSTOM))
      (if (i32.lt_u (local.get $b) (local.get $blocks))
        (then (local.set $n (i32.const 16)))
        (else
          (if (i32.eq (local.get $b) (local.get $blocks))
            (then
              (local.set $n
                (i32.shr_u (i32.and (i32.sub (local.get $len) (i32.const 1)) (i32.const 1023)) (i32.const 6))))
            (else
              (local.set $p (i32.sub (local.get $end) (i32.const 64)))
              (local.set $s (i32.add (global.get $CUSTOM) (i32.const 121)))
              (local.set $n (i32.const 1))))))
      (block $done
        (br_if $done (i32.eqz (local.get $n)))
        (loop $stripe
          (local.set $k0 (v128.load offset=0 (local.get $p)))
          (local.set $k1 (v128.load offset=16 (local.get $p)))
          (local.set $a0 (i64x2.add (local.get $a0) (local.get $k0)))
          (local.set $a1 (i64x2.add (local.get $a1) (local.get $k1)))
          (local.set $k0 (v128.xor (local.get $k0) (v128.load offset=0 (local.get $s))))
          (local.set $k1 (v128.xor (local.get $k1) (v128.load offset=16 (local.get $s))))
          ;; x = the low halves of k0's lanes 1, 0 and k1's lanes 1, 0; y = their high halves
          (local.set $x (i8x16.shuffle 8 9 10 11 0 1 2 3 24 25 26 27 16 17 18 19 (local.get $k0) (local.get $k1)))
          (local.set $y (i8x16.shuffle 12 13 14 15 4 5 6 7 28 29 30 31 20 21 22 23 (local.get $k0) (local.get $k1)))
          (local.set $a0 (i64x2.add (local.get $a0) (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $y))))
          (local.set $a1 (i64x2.add (local.get $a1) (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $y))))
          (local.set $k2 (v128.load offset=32 (local.get $p)))
          (local.set $k3 (v128.load offset=48 (local.get $p)))
          (local.set $a2 (i64x2.add (local.get $a2) (local.get $k2)))
          (local.set $a3 (i64x2.add (local.get $a3) (local.get $k3)))
          (local.set $k2 (v128.xor (local.get $k2) (v128.load offset=32 (local.get $s))))
          (local.set $k3 (v128.xor (local.get $k3) (v128.load offset=48 (local.get $s))))
          (local.set $x (i8x16.shuffle 8 9 10 11 0 1 2 3 24 25 26 27 16 17 18 19 (local.get $k2) (local.get $k3)))
          (local.set $y (i8x16.shuffle 12 13 14 15 4 5 6 7 28 29 30 31 20 21 22 23 (local.get $k2) (local.get $k3)))
          (local.set $a2 (i64x2.add (local.get $a2) (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $y))))
          (local.set $a3 (i64x2.add (local.get $a3) (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $y))))
          (local.set $p (i32.add (local.get $p) (i32.const 64)))
          (local.set $s (i32.add (local.get $s) (i32.const 8)))
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br_if $stripe (local.get $n))))
      (if (i32.lt_u (local.get $b) (local.get $blocks))
        (then
          ;; acc = (acc ^ acc >> 47 ^ secret[128..192)) × P32_1
          (local.set $a0 (i64x2.mul
            (v128.xor (v128.xor (local.get $a0) (i64x2.shr_u (local.get $a0) (i32.const 47)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                (v128.load offset=320 (i32.const 0)) (v128.load offset=320 (i32.const 0))))
            (v128.const i64x2 0x9E3779B1 0x9E3779B1)))
          (local.set $a1 (i64x2.mul
            (v128.xor (v128.xor (local.get $a1) (i64x2.shr_u (local.get $a1) (i32.const 47)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                (v128.load offset=336 (i32.const 0)) (v128.load offset=336 (i32.const 0))))
            (v128.const i64x2 0x9E3779B1 0x9E3779B1)))
          (local.set $a2 (i64x2.mul
            (v128.xor (v128.xor (local.get $a2) (i64x2.shr_u (local.get $a2) (i32.const 47)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                (v128.load offset=352 (i32.const 0)) (v128.load offset=352 (i32.const 0))))
            (v128.const i64x2 0x9E3779B1 0x9E3779B1)))
          (local.set $a3 (i64x2.mul
            (v128.xor (v128.xor (local.get $a3) (i64x2.shr_u (local.get $a3) (i32.const 47)))
              (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7
                (v128.load offset=368 (i32.const 0)) (v128.load offset=368 (i32.const 0))))
            (v128.const i64x2 0x9E3779B1 0x9E3779B1)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br_if $run (i32.le_u (local.get $b) (i32.add (local.get $blocks) (i32.const 1)))))
    ;; Back to acc order, then merge twice: low with secret 11 and start len × P64_1, high with
    ;; secret 117 and start ~(len × P64_2).
    (local.set $a0 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a0) (local.get $a0)))
    (local.set $a1 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a1) (local.get $a1)))
    (local.set $a2 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a2) (local.get $a2)))
    (local.set $a3 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a3) (local.get $a3)))
    (local.set $len64 (i64.extend_i32_u (local.get $len)))
    (call $result
      (call $merge (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
        (i32.add (global.get $CUSTOM) (i32.const 11))
        (i64.mul (local.get $len64) (global.get $P64_1)))
      (call $merge (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)
        (i32.add (global.get $CUSTOM) (i32.const 117))
        (i64.xor (i64.mul (local.get $len64) (global.get $P64_2)) (i64.const -1)))))

  ;; avalanche(start + Σ fold(acc[2j] ^ secret[16j], acc[2j+1] ^ secret[16j+8])), j = 0..3
  (func $merge (param $a0 v128) (param $a1 v128) (param $a2 v128) (param $a3 v128) (param $s i32) (param $start i64)
    (result i64)
    (local $f v128)
    (local.set $f
      (i64x2.add
        (call $fold2
          (v128.xor (local.get $a0) (v128.load offset=0 (local.get $s)))
          (v128.xor (local.get $a1) (v128.load offset=16 (local.get $s))))
        (call $fold2
          (v128.xor (local.get $a2) (v128.load offset=32 (local.get $s)))
          (v128.xor (local.get $a3) (v128.load offset=48 (local.get $s))))))
    (call $avalanche
      (i64.add (local.get $start)
        (i64.add (i64x2.extract_lane 0 (local.get $f)) (i64x2.extract_lane 1 (local.get $f))))))

  ;; [fold(z.lo, z.hi), fold(w.lo, w.hi)]: two 64 × 64 → 128-bit products at once, from the
  ;; 32 × 32 → 64-bit partial products ll, hl, lh, hh of each, which extmul makes two at a time.
  ;; Scalar, the merge's eight folds cost about a quarter of a 2 KB hash.
  (func $fold2 (param $z v128) (param $w v128) (result v128)
    (local $x v128) (local $t v128) (local $ll v128) (local $hl v128) (local $lh v128) (local $hh v128)
    (local $cross v128)
    ;; x = [ul_z, ul_w, uh_z, uh_w], t = [vl_z, vl_w, vh_z, vh_w] (u = lane 0, v = lane 1; 32-bit words)
    (local.set $x (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $z) (local.get $w)))
    (local.set $t (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $z) (local.get $w)))
    (local.set $ll (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $t)))
    (local.set $hh (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $t)))
    ;; t with its halves swapped: [vh_z, vh_w, vl_z, vl_w]
    (local.set $t (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $t) (local.get $t)))
    (local.set $lh (i64x2.extmul_low_i32x4_u (local.get $x) (local.get $t)))
    (local.set $hl (i64x2.extmul_high_i32x4_u (local.get $x) (local.get $t)))
    ;; cross = (ll >> 32) + lo32(hl) + lh < 2^64; high = (hl >> 32) + (cross >> 32) + hh;
    ;; low = cross << 32 | lo32(ll)
    (local.set $cross
      (i64x2.add
        (i64x2.add
          (i64x2.shr_u (local.get $ll) (i32.const 32))
          (v128.and (local.get $hl) (v128.const i64x2 0xFFFFFFFF 0xFFFFFFFF)))
        (local.get $lh)))
    (v128.xor
      (v128.or
        (i64x2.shl (local.get $cross) (i32.const 32))
        (v128.and (local.get $ll) (v128.const i64x2 0xFFFFFFFF 0xFFFFFFFF)))
      (i64x2.add
        (i64x2.add (i64x2.shr_u (local.get $hl) (i32.const 32)) (i64x2.shr_u (local.get $cross) (i32.const 32)))
        (local.get $hh))))

  ;; XXH3_128bits_withSeed(mem[p, p + len), seed) → mem[448, 464)
  (func (export "xxh3_128") (param $p i32) (param $len i32) (param $seedLo i32) (param $seedHi i32)
    (local $seed i64)
    (local.set $seed
      (i64.or
        (i64.extend_i32_u (local.get $seedLo))
        (i64.shl (i64.extend_i32_u (local.get $seedHi)) (i64.const 32))))
    (if (i32.le_u (local.get $len) (i32.const 16))
      (then
        (if (i32.gt_u (local.get $len) (i32.const 8))
          (then (call $len9to16 (local.get $p) (local.get $len) (local.get $seed)) (return)))
        (if (i32.ge_u (local.get $len) (i32.const 4))
          (then (call $len4to8 (local.get $p) (local.get $len) (local.get $seed)) (return)))
        (if (local.get $len)
          (then (call $len1to3 (local.get $p) (local.get $len) (local.get $seed)) (return)))
        (call $len0 (local.get $seed))
        (return)))
    (if (i32.le_u (local.get $len) (i32.const 128))
      (then (call $len17to128 (local.get $p) (local.get $len) (local.get $seed)) (return)))
    (if (i32.le_u (local.get $len) (i32.const 240))
      (then (call $len129to240 (local.get $p) (local.get $len) (local.get $seed)) (return)))
    (if (i64.ne (local.get $seed) (global.get $derivedFor))
      (then (call $derive (local.get $seed))))
    (call $long (local.get $p) (local.get $len)))
)
