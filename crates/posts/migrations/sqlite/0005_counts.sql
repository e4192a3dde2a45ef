-- A post's like and reply counts live on its row, kept by triggers in the same transaction as
-- the like, unlike, reply or deletion that changes them: a page reads them instead of counting
-- likes and replies per post (three correlated sub-selects per row became one). Triggers rather
-- than application code, so that every writer keeps them, whatever its version.
ALTER TABLE posts ADD COLUMN like_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE posts ADD COLUMN reply_count INTEGER NOT NULL DEFAULT 0;

UPDATE posts SET like_count = c.n
FROM (SELECT post_id, COUNT(*) AS n FROM likes GROUP BY post_id) AS c
WHERE c.post_id = posts.id;
UPDATE posts SET reply_count = c.n
FROM (SELECT reply_to, COUNT(*) AS n FROM posts WHERE reply_to IS NOT NULL GROUP BY reply_to) AS c
WHERE c.reply_to = posts.id;

CREATE TRIGGER likes_count_insert AFTER INSERT ON likes
BEGIN
    UPDATE posts SET like_count = like_count + 1 WHERE id = NEW.post_id;
END;
-- Also fires for the likes a deleted post takes with it (its row is gone: nothing to update).
CREATE TRIGGER likes_count_delete AFTER DELETE ON likes
BEGIN
    UPDATE posts SET like_count = like_count - 1 WHERE id = OLD.post_id;
END;
CREATE TRIGGER replies_count_insert AFTER INSERT ON posts WHEN NEW.reply_to IS NOT NULL
BEGIN
    UPDATE posts SET reply_count = reply_count + 1 WHERE id = NEW.reply_to;
END;
CREATE TRIGGER replies_count_delete AFTER DELETE ON posts WHEN OLD.reply_to IS NOT NULL
BEGIN
    UPDATE posts SET reply_count = reply_count - 1 WHERE id = OLD.reply_to;
END;
