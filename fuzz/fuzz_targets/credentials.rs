//! `Email::parse` and `Password::parse` on arbitrary text: an accepted e-mail has the shape
//! it promises, reparses to itself and is what signing in with the typed address looks up; a
//! password is accepted exactly when its length rules allow, kept as typed and never printed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = socialdevs_fuzz::text(data);
    socialdevs_fuzz::check_email(&text);
    socialdevs_fuzz::check_password(&text);
});
