"""The web pages' words in Vietnamese and English, and how a page picks its language.

The catalog is one table: every key has both languages, which a test checks against
every ``t("...")`` in ``templates/web``. The language of a page is, in order: the
person's own choice (the switch on every page, a cookie), the locale of the person
the page is for (organisation CSV), the browser's Accept-Language, Vietnamese.

Field problems come from the engine in English (``SubmissionInvalid.fields``);
``problem()`` says the known ones in Vietnamese and leaves any other as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from workflow import formatting

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"

# key: (English, Vietnamese). Placeholders are str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    "app_name": ("KPI evaluation", "Đánh giá KPI"),
    "skip_to_content": ("Skip to the content", "Chuyển đến nội dung"),
    "language": ("Language", "Ngôn ngữ"),
    "switch_to_other": ("Tiếng Việt", "English"),
    "signed_in_as": ("Signed in as {name}", "Đã đăng nhập: {name}"),
    "acting_as": ("You act as {name}, through the link emailed to you.",
                  "Bạn đang thao tác với tư cách {name}, qua đường liên kết đã gửi tới email."),
    "sign_out": ("Sign out", "Đăng xuất"),
    "sign_in": ("Sign in", "Đăng nhập"),
    "home": ("Home", "Trang chủ"),
    "team": ("My team", "Đơn vị của tôi"),
    "admin": ("Administration", "Quản trị"),
    "caught_emails": ("Caught emails", "Email đã bắt"),
    # landing and sign-in
    "landing_title": ("Your evaluation tasks", "Nhiệm vụ đánh giá của bạn"),
    "landing_body": (
        "Each task comes to you by email with a personal link: open it to fill in your "
        "self-assessment, give peer input or answer your result. No account is needed.",
        "Mỗi nhiệm vụ được gửi tới bạn qua email kèm một đường liên kết riêng: mở liên kết để "
        "tự đánh giá, góp ý đồng nghiệp hoặc phản hồi kết quả. Không cần tài khoản."),
    "landing_staff": (
        "Supervisors, calibrators, appeal reviewers and administrators sign in with a link "
        "sent to their email.",
        "Người đánh giá, người hiệu chỉnh, người xem xét khiếu nại và quản trị viên đăng nhập "
        "bằng đường liên kết gửi tới email."),
    "sign_in_title": ("Sign in by email", "Đăng nhập qua email"),
    "sign_in_help": ("Enter your work email address; we send you a link that signs you in.",
                     "Nhập địa chỉ email công vụ; hệ thống sẽ gửi đường liên kết để đăng nhập."),
    "email": ("Email address", "Địa chỉ email"),
    "send_link": ("Send me a sign-in link", "Gửi đường liên kết đăng nhập"),
    "sign_in_sent_title": ("Check your email", "Hãy kiểm tra email"),
    "sign_in_sent": (
        "If {email} belongs to someone who can sign in, a link is on its way. It works once, "
        "for {minutes} minutes.",
        "Nếu {email} thuộc về người có quyền đăng nhập, đường liên kết đang được gửi tới. "
        "Liên kết dùng được một lần, trong {minutes} phút."),
    "sign_in_confirm_title": ("Sign in as {name}", "Đăng nhập với tư cách {name}"),
    "sign_in_confirm": ("Press the button to sign in. The link then stops working.",
                        "Bấm nút để đăng nhập. Sau đó đường liên kết hết hiệu lực."),
    "sign_in_needed": ("Please sign in to see this page.",
                       "Vui lòng đăng nhập để xem trang này."),
    # home
    "home_title": ("What waits for you", "Việc đang chờ bạn"),
    "home_scoring": ("{n} evaluation(s) of your team wait for your score.",
                     "{n} phiếu đánh giá của đơn vị đang chờ bạn chấm điểm."),
    "home_team_empty": ("Nobody in your team waits for your score.",
                        "Không có phiếu nào trong đơn vị đang chờ bạn chấm."),
    "home_calibrate": ("Calibration of {cycle}: {n} evaluation(s) waiting",
                       "Hiệu chỉnh {cycle}: {n} phiếu đang chờ"),
    "home_appeals": ("Appeals to decide", "Khiếu nại cần giải quyết"),
    "home_admin": ("Cycles you administer", "Các kỳ đánh giá bạn quản trị"),
    "home_nothing": ("Nothing waits for you now.", "Hiện không có việc nào chờ bạn."),
    "open_team": ("Open my team", "Mở danh sách đơn vị"),
    "open_calibration": ("Open calibration", "Mở trang hiệu chỉnh"),
    "open_dashboard": ("Open the dashboard", "Mở bảng điều khiển"),
    # states and classes
    "state_self_assessment": ("Self-assessment", "Tự đánh giá"),
    "state_peer_input": ("Peer input", "Góp ý của đồng nghiệp"),
    "state_supervisor_scoring": ("Supervisor scoring", "Cấp trên chấm điểm"),
    "state_calibration": ("Calibration", "Hiệu chỉnh"),
    "state_appeal_window": ("Result sent, appeal window open",
                            "Đã gửi kết quả, đang trong thời hạn khiếu nại"),
    "state_appeal_review": ("Appeal under review", "Đang xem xét khiếu nại"),
    "state_finalised": ("Finalised", "Đã hoàn tất"),
    "state_cancelled": ("Cancelled", "Đã hủy"),
    "class_unscored": ("not scored yet", "chưa chấm"),
    # common words
    "due": ("Due", "Hạn"),
    "opens_at": ("This task opens on {when}; it cannot be submitted before then.",
                 "Nhiệm vụ này mở từ {when}; chưa thể gửi trước thời điểm đó."),
    "due_at": ("Due {when}", "Hạn chót {when}"),
    "overdue": ("overdue", "quá hạn"),
    "state": ("State", "Trạng thái"),
    "score": ("Score", "Điểm"),
    "class": ("Class", "Xếp loại"),
    "name": ("Name", "Họ và tên"),
    "unit": ("Unit", "Đơn vị"),
    "cycle": ("Cycle", "Kỳ đánh giá"),
    "reviewee": ("Reviewee", "Người được đánh giá"),
    "supervisor": ("Supervisor", "Cấp trên trực tiếp"),
    "reason": ("Reason", "Lý do"),
    "comment": ("Comment", "Nhận xét"),
    "note": ("Note", "Ghi chú"),
    "evidence": ("Evidence", "Minh chứng"),
    "points": ("Points", "Điểm"),
    "points_of": ("Points (0 to {max})", "Điểm (từ 0 đến {max})"),
    "actual_of": ("Actual (target {target} {unit})", "Thực tế (chỉ tiêu {target} {unit})"),
    "save_draft": ("Save draft", "Lưu nháp"),
    "submit": ("Submit", "Gửi"),
    "draft_saved": ("Draft saved {when}. It is not submitted yet.",
                    "Đã lưu nháp lúc {when}. Bản này chưa được gửi."),
    "errors_title": ("Nothing was saved. Please correct:", "Chưa lưu gì. Vui lòng sửa:"),
    "error_form": ("This form", "Biểu mẫu này"),
    "yes": ("Yes", "Có"),
    "no": ("No", "Không"),
    "none": ("none", "không có"),
    "back_home": ("Back to the start page", "Về trang đầu"),
    "csrf_failed": (
        "The form could not be checked (it is too old or was not sent from this site). "
        "Nothing was saved: check your entries and send it again.",
        "Không kiểm tra được biểu mẫu (đã quá cũ hoặc không được gửi từ trang này). "
        "Chưa lưu gì: hãy kiểm tra lại và gửi lại."),
    "too_large": ("The form is too large.", "Biểu mẫu quá lớn."),
    # criteria and tasks
    "criteria_title": ("General criteria and results", "Tiêu chí chung và kết quả"),
    "tasks_title": ("Assigned products and work items", "Sản phẩm, công việc được giao"),
    "tasks_help": (
        "One row per item assigned in the period. Leave a row empty to skip it.",
        "Mỗi dòng là một sản phẩm, công việc được giao trong kỳ. Để trống dòng nếu không dùng."),
    "task_n": ("Item {n}", "Công việc {n}"),
    "task_title": ("Title", "Tên sản phẩm, công việc"),
    "task_completed": ("Completed", "Đã hoàn thành"),
    "task_meets": ("Meets the requirements", "Đạt yêu cầu chất lượng"),
    "task_failed": ("Failed assessments", "Số lần không đạt khi kiểm tra"),
    "task_delays": ("Delays", "Số lần chậm tiến độ"),
    "quality_waiver": ("Quality deduction waived (objective cause)",
                       "Miễn trừ khấu trừ chất lượng (nguyên nhân khách quan)"),
    "progress_waiver": ("Progress deduction waived (objective cause)",
                        "Miễn trừ khấu trừ tiến độ (nguyên nhân khách quan)"),
    "waivers": ("Deductions waived for an objective cause",
                "Miễn trừ khấu trừ do nguyên nhân khách quan"),
    "waiver_approver": ("Approved by", "Người xác nhận"),
    "waiver_reason": ("Objective cause", "Nguyên nhân khách quan"),
    "add_rows": ("Add more rows (saves the draft)", "Thêm dòng (lưu nháp)"),
    # self-assessment
    "self_title": ("Self-assessment", "Tự đánh giá"),
    "self_intro": ("{cycle}. Propose your points per criterion, list your work items with "
                   "their outcomes, and add evidence notes.",
                   "{cycle}. Đề xuất điểm từng tiêu chí, liệt kê sản phẩm, công việc cùng kết "
                   "quả và ghi chú minh chứng."),
    "self_proposed": ("Your proposed points (0 to {max})", "Điểm bạn tự đề xuất (0 đến {max})"),
    # peer
    "peer_title": ("Peer input for {name}", "Góp ý cho đồng nghiệp {name}"),
    "peer_intro": ("Your answer is anonymous: the reviewee and the supervisor never see who "
                   "gave it, and fewer than {n} answers are shown to nobody.",
                   "Ý kiến của bạn được ẩn danh: người được đánh giá và cấp trên không biết ai "
                   "góp ý; nếu có ít hơn {n} ý kiến thì không ai được xem."),
    # scoring
    "score_title": ("Score {name}", "Chấm điểm {name}"),
    "score_intro": ("The self-assessment and the peer input are shown beside each criterion. "
                    "Points are prefilled from the reviewee's proposal where there is one.",
                    "Phần tự đánh giá và góp ý của đồng nghiệp hiển thị bên cạnh từng tiêu chí. "
                    "Điểm được điền sẵn theo đề xuất của người được đánh giá (nếu có)."),
    "their_proposal": ("Self-assessment: {points}", "Tự đánh giá: {points}"),
    "peers_gave": ("Peers: {points}", "Đồng nghiệp: {points}"),
    "self_missing": ("No self-assessment was submitted.", "Không có bản tự đánh giá."),
    "self_assessment_note": ("Reviewee's note", "Ghi chú của người được đánh giá"),
    "peer_withheld": ("Peer input withheld: {answered} of the {n} answers needed arrived.",
                      "Góp ý của đồng nghiệp không hiển thị: mới có {answered} trên {n} ý kiến "
                      "cần thiết."),
    "peer_comments": ("Peer comments (anonymous)", "Nhận xét của đồng nghiệp (ẩn danh)"),
    "score_not_open": ("This evaluation is in “{state}”: there is nothing to score now.",
                       "Phiếu này đang ở bước “{state}”: hiện không có gì để chấm."),
    "submit_score": ("Submit the score", "Gửi kết quả chấm"),
    # team
    "team_title": ("My team", "Đơn vị của tôi"),
    "team_next": ("Next to score: {name}", "Người cần chấm tiếp theo: {name}"),
    "team_none_waiting": ("Nobody waits for your score.", "Không ai đang chờ bạn chấm."),
    "team_empty": ("You score nobody in an open cycle.",
                   "Bạn không chấm điểm ai trong kỳ đang mở."),
    "score_now": ("Score", "Chấm điểm"),
    "as_role_acting_supervisor": ("as acting supervisor", "với tư cách người được ủy quyền"),
    "as_role_escalation_supervisor": ("escalated to you", "được chuyển lên bạn"),
    "as_role_supervisor": ("", ""),
    "flag_self_missing": ("no self-assessment", "không tự đánh giá"),
    "flag_quorum": ("peer input withheld", "không đủ góp ý"),
    "done_scored": ("Score saved for {name}: {score} points, {klass}.",
                    "Đã lưu kết quả chấm cho {name}: {score} điểm, {klass}."),
    # result
    "result_title": ("Your result", "Kết quả của bạn"),
    "result_score": ("Score {score} of {scale}", "Điểm {score}/{scale}"),
    "result_class": ("Class: {klass}", "Xếp loại: {klass}"),
    "result_calibrated": (
        "Calibration of the quota moved your class from “{before}” to “{after}”; your score "
        "did not change.",
        "Hiệu chỉnh theo tỷ lệ đã chuyển xếp loại từ “{before}” sang “{after}”; điểm không đổi."),
    "breakdown": ("Breakdown", "Chi tiết điểm"),
    "criterion": ("Criterion", "Tiêu chí"),
    "of_max": ("of {max}", "trên {max}"),
    "not_counted": ("not counted", "không tính"),
    "supervisor_comment": ("Supervisor's comment", "Nhận xét của cấp trên"),
    "appeal_rights": (
        "You may accept this result or appeal it, with your reasons, until {when}. Without an "
        "answer by then, the result is accepted.",
        "Bạn có thể đồng ý với kết quả hoặc khiếu nại kèm lý do đến {when}. Nếu không phản hồi "
        "trước thời hạn, kết quả được coi là đã đồng ý."),
    "accept": ("I accept the result", "Tôi đồng ý với kết quả"),
    "appeal": ("Appeal", "Khiếu nại"),
    "appeal_reasons": ("Your reasons", "Lý do khiếu nại"),
    "lodge_appeal": ("Lodge the appeal", "Gửi khiếu nại"),
    "done_accepted": ("You accepted the result. It is now final.",
                      "Bạn đã đồng ý với kết quả. Kết quả đã được hoàn tất."),
    "done_appealed": ("Your appeal was lodged; the appeal reviewer has been told.",
                      "Đã gửi khiếu nại; người xem xét khiếu nại đã được thông báo."),
    # appeal review
    "appeal_review_title": ("Appeal of {name}", "Khiếu nại của {name}"),
    "appeal_file": ("The file", "Hồ sơ"),
    "appeal_reasons_given": ("Reasons given by the reviewee", "Lý do khiếu nại"),
    "decision": ("Decision", "Quyết định"),
    "uphold": ("Uphold the score", "Giữ nguyên kết quả"),
    "uphold_help": ("Keep the score and the class, with a reason.",
                    "Giữ nguyên điểm và xếp loại, kèm lý do."),
    "revise": ("Revise the score", "Điều chỉnh kết quả"),
    "revise_help": ("Give the whole new score and the reason for the change.",
                    "Nhập toàn bộ điểm mới và lý do điều chỉnh."),
    "done_decided": ("Decision recorded: the evaluation is now final.",
                     "Đã ghi nhận quyết định: phiếu đánh giá đã hoàn tất."),
    "appeal_not_open": ("This appeal is not open for a decision (it is in “{state}”).",
                        "Khiếu nại này không còn chờ quyết định (đang ở bước “{state}”)."),
    # calibration
    "calibration_title": ("Calibration: {cycle}", "Hiệu chỉnh: {cycle}"),
    "calibration_intro": (
        "At most {ratio} of the number rated “{relative}” may be rated “{limited}”, in the "
        "agency and in each group of similar tasks. You may only move “{limited}” down to "
        "“{to}”, each with a reason; scores never change.",
        "Số người xếp loại “{limited}” không quá {ratio} số người xếp loại “{relative}”, trong "
        "toàn cơ quan và trong từng nhóm nhiệm vụ tương đồng. Chỉ được chuyển “{limited}” "
        "xuống “{to}”, kèm lý do; điểm không thay đổi."),
    "pool": ("Pool", "Nhóm"),
    "pool_agency": ("Whole agency", "Toàn cơ quan"),
    "pool_task_group": ("Task group {group}", "Nhóm nhiệm vụ {group}"),
    "quota_limited": ("Rated “{limited}”", "Xếp loại “{limited}”"),
    "quota_allowed": ("Allowed", "Tối đa"),
    "quota_relative": ("Rated “{relative}”", "Xếp loại “{relative}”"),
    "quota_holds": ("holds", "đạt"),
    "quota_breaks": ("breaks the quota by {n}", "vượt {n}"),
    "meter_label": ("{limited} of {allowed} allowed", "{limited} trên tối đa {allowed}"),
    "waiting_note": ("{waiting} evaluation(s) wait in calibration; {not_yet} not scored yet.",
                     "{waiting} phiếu đang chờ hiệu chỉnh; {not_yet} phiếu chưa chấm xong."),
    "breaks_it": ("in a pool over the quota", "thuộc nhóm vượt tỷ lệ"),
    "move_down": ("Move down to “{to}”", "Chuyển xuống “{to}”"),
    "move_reason_label": ("Reason for moving {name}", "Lý do chuyển {name}"),
    "approve": ("Approve the calibration", "Phê duyệt hiệu chỉnh"),
    "cannot_approve": ("Approval needs every evaluation scored and every pool within its "
                       "quota.",
                       "Chỉ phê duyệt được khi mọi phiếu đã chấm xong và mọi nhóm đạt tỷ lệ."),
    "moved": ("{name} moved to “{to}”.", "Đã chuyển {name} sang “{to}”."),
    "approved": ("Calibration approved: {n} results sent to the reviewees.",
                 "Đã phê duyệt hiệu chỉnh: {n} kết quả đã được gửi tới người được đánh giá."),
    "calibration_moved_from": ("moved from “{klass}”", "chuyển từ “{klass}”"),
    # admin
    "admin_title": ("Administration", "Quản trị"),
    "progress": ("Progress by unit and state", "Tiến độ theo đơn vị và trạng thái"),
    "total": ("Total", "Tổng"),
    "overdue_items": ("Overdue ({n})", "Quá hạn ({n})"),
    "waiting_on": ("Waiting on", "Đang chờ"),
    "dead_letters": ("Undeliverable emails", "Email không gửi được"),
    "report_link": ("Report, charts and fairness signals",
                    "Báo cáo, biểu đồ và dấu hiệu bất thường"),
    "report_title": ("Report: {cycle}", "Báo cáo: {cycle}"),
    "back_to_dashboard": ("Back to the dashboard", "Quay lại bảng điều khiển"),
    "signals_summary": ("Fairness signals for this cycle (information only: nothing changes "
                        "by itself)", "Dấu hiệu bất thường của kỳ đánh giá (chỉ để tham khảo: "
                        "không tự động thay đổi kết quả)"),
    "no_dead_letters": ("None.", "Không có."),
    "attempts": ("Attempts", "Số lần thử"),
    "error": ("Error", "Lỗi"),
    "resend": ("Send again", "Gửi lại"),
    "find": ("Find an evaluation", "Tìm phiếu đánh giá"),
    "find_label": ("Employee id or name", "Mã hoặc tên công chức"),
    "search": ("Search", "Tìm"),
    "open": ("Open", "Mở"),
    "delegate_title": ("Delegate scoring to an acting supervisor",
                       "Ủy quyền chấm điểm cho người thay thế"),
    "delegate_supervisor": ("Supervisor (employee id)", "Cấp trên (mã công chức)"),
    "delegate_acting": ("Acting supervisor (employee id)", "Người được ủy quyền (mã công chức)"),
    "until": ("Until (local time)", "Đến (giờ địa phương)"),
    "delegate": ("Delegate", "Ủy quyền"),
    "flags": ("Flags", "Ghi nhận"),
    "outbox": ("Outbox", "Hộp thư đi"),
    "outbox_pending": ("waiting to be sent", "chờ gửi"),
    "outbox_sending": ("being sent", "đang gửi"),
    "outbox_sent": ("sent", "đã gửi"),
    "outbox_dead": ("undeliverable", "không gửi được"),
    "outbox_held": ("held for the daily digest", "chờ gộp vào thư tổng hợp trong ngày"),
    "outbox_folded": ("sent in a daily digest", "đã gửi trong thư tổng hợp"),
    "flag_self_assessment_missing": ("no self-assessment", "không tự đánh giá"),
    "flag_peer_quorum_not_reached": ("peer input withheld", "không đủ góp ý"),
    "flag_escalated": ("escalated", "đã chuyển cấp trên"),
    "flag_extended": ("extended", "đã gia hạn"),
    "flag_reopened": ("reopened", "đã mở lại"),
    "evaluation_n": ("Evaluation {id}", "Phiếu đánh giá {id}"),
    "people": ("People", "Người liên quan"),
    "peers": ("Peers", "Đồng nghiệp góp ý"),
    "appeal_reviewer": ("Appeal reviewer", "Người xem xét khiếu nại"),
    "extend": ("Extend the deadline", "Gia hạn"),
    "new_due": ("New deadline (local time)", "Hạn mới (giờ địa phương)"),
    "approved_by": ("Approved by", "Người phê duyệt"),
    "reassign_supervisor": ("Reassign the supervisor", "Đổi cấp trên chấm điểm"),
    "new_supervisor": ("New supervisor (employee id)", "Cấp trên mới (mã công chức)"),
    "reassign_peer": ("Replace a peer who has not answered",
                      "Thay đồng nghiệp chưa góp ý"),
    "old_peer": ("Peer to replace", "Đồng nghiệp cần thay"),
    "new_peer": ("New peer (employee id)", "Đồng nghiệp mới (mã công chức)"),
    "cancel": ("Cancel the evaluation", "Hủy phiếu đánh giá"),
    "reopen": ("Reopen for scoring", "Mở lại để chấm"),
    "resend_task": ("Send the task email again", "Gửi lại email nhiệm vụ"),
    "resend_task_help": ("A fresh link goes to whoever the evaluation waits on.",
                         "Đường liên kết mới được gửi tới người đang cần thực hiện."),
    "done_admin": ("Done: {what}.", "Đã thực hiện: {what}."),
    "pending": ("pending", "chưa trả lời"),
    "answered": ("answered", "đã trả lời"),
    "withdrawn": ("withdrawn", "đã thay"),
    "closed": ("closed", "đã đóng"),
    "extensions": ("Extensions", "Các lần gia hạn"),
    # links and errors
    "link_unknown_title": ("This link does not work", "Đường liên kết không dùng được"),
    "link_unknown": ("This link is not valid: it may be mistyped or cut. Open it again from "
                     "the email.",
                     "Đường liên kết không hợp lệ: có thể bị gõ sai hoặc bị cắt. Hãy mở lại từ "
                     "email."),
    "link_expired": ("This link expired on {when}. Ask your HR administrator for a new one.",
                     "Đường liên kết đã hết hạn lúc {when}. Hãy đề nghị bộ phận tổ chức cán bộ "
                     "gửi lại."),
    "link_used": ("This form was already submitted on {when}; it cannot be submitted again "
                  "through this link. Nothing more to do.",
                  "Biểu mẫu này đã được gửi lúc {when}; không thể gửi lại qua đường liên kết "
                  "này. Bạn không cần làm gì thêm."),
    "link_closed": ("This task is closed: the evaluation has moved on to “{state}”.",
                    "Nhiệm vụ này đã đóng: phiếu đánh giá đã chuyển sang bước “{state}”."),
    "link_mismatch": ("This link belongs to another evaluation or task; nothing was saved.",
                      "Đường liên kết này thuộc phiếu hoặc nhiệm vụ khác; chưa lưu gì."),
    "deadline_passed": ("The deadline passed on {when}; nothing was saved.",
                        "Đã quá hạn chót ({when}); chưa lưu gì."),
    "not_allowed_title": ("Not allowed", "Không có quyền"),
    "not_allowed": ("Your role does not allow this page or action.",
                    "Vai trò của bạn không được phép xem trang hoặc thực hiện thao tác này."),
    "not_found_title": ("Not found", "Không tìm thấy"),
    "not_found": ("There is nothing at this address.", "Không có nội dung tại địa chỉ này."),
    "already_changed": ("Someone else changed this evaluation first; nothing of yours was "
                        "saved. Reload the page and look again.",
                        "Người khác đã thay đổi phiếu này trước; thông tin của bạn chưa được "
                        "lưu. Hãy tải lại trang và kiểm tra."),
    "cannot_do": ("This cannot be done now: {message}", "Hiện không thực hiện được: {message}"),
    "done_title": ("Thank you", "Cảm ơn bạn"),
    "done_self": ("Your self-assessment was submitted. Your supervisor has it now.",
                  "Đã gửi bản tự đánh giá. Cấp trên của bạn đã nhận được."),
    "done_peer": ("Your peer input was recorded, anonymously.",
                  "Đã ghi nhận góp ý của bạn, ẩn danh."),
    # demo
    "demo_bar": ("Demo: it is {when} in the demo's calendar.",
                 "Bản demo: theo lịch của bản demo, bây giờ là {when}."),
    "demo_next": ("Jump to the next deadline", "Chuyển tới hạn chót kế tiếp"),
    "demo_next_none": ("No deadline is pending.", "Không còn hạn chót nào."),
    "demo_jumped": ("The clock moved to {when}: {summary}",
                    "Đồng hồ đã chuyển tới {when}: {summary}"),
    "mail_title": ("Emails caught by the demo", "Email bản demo đã bắt"),
    "mail_intro": ("Every email the system sent lands here instead of a real mailbox. Open a "
                   "link to play that person.",
                   "Mọi email hệ thống gửi đều được giữ tại đây thay vì gửi đi thật. Mở đường "
                   "liên kết để đóng vai người nhận."),
    "mail_to": ("To", "Người nhận"),
    "mail_subject": ("Subject", "Tiêu đề"),
    "mail_body": ("What it says", "Nội dung"),
    "mail_none": ("No email yet.", "Chưa có email nào."),
    "mail_link": ("Open the link", "Mở đường liên kết"),
}

_PROBLEMS_VI: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^required$"), "bắt buộc nhập"),
    (re.compile(r"^must be a number$"), "phải là một số"),
    (re.compile(r"^(.*) is not a number$"), r"\1 không phải là số"),
    (re.compile(r"^(.*) is not a whole number$"), r"\1 không phải là số nguyên"),
    (re.compile(r"^must be a finite number$"), "phải là một số hữu hạn"),
    (re.compile(r"^must be between (\S+) and (\S+), got (.*)$"),
     r"phải từ \1 đến \2, đã nhập \3"),
    (re.compile(r"^must be between (\S+) and (\S+)$"), r"phải từ \1 đến \2"),
    (re.compile(r"^at most (\d+) decimal places$"), r"tối đa \1 chữ số thập phân"),
    (re.compile(r"^at most (\d+) characters, got (\d+)$"), r"tối đa \1 ký tự, đã nhập \2"),
    (re.compile(r"^at most (\d+) characters$"), r"tối đa \1 ký tự"),
    (re.compile(r"^at most (\d+) items$"), r"tối đa \1 dòng"),
    (re.compile(r"^must be yes or no$"), "phải là có hoặc không"),
    (re.compile(r"^must be text$"), "phải là văn bản"),
    (re.compile(r"^contains a NUL character$"), "chứa ký tự không hợp lệ"),
    (re.compile(r"^not a criterion of this form$"), "không phải tiêu chí của biểu mẫu này"),
    (re.compile(r"^an item not completed cannot meet requirements$"),
     "công việc chưa hoàn thành thì không thể đạt yêu cầu chất lượng"),
    (re.compile(r"^a revision needs the new score$"), "điều chỉnh cần có điểm mới"),
    (re.compile(r"^must be in the future$"), "phải là thời điểm trong tương lai"),
    (re.compile(r"^not a date and time.*$"), "không phải ngày giờ hợp lệ (vd. 2026-05-10 17:00)"),
]


def problem(text: str, locale: str) -> str:
    """An engine's field problem in the page's language (known ones; others as they are)."""
    if locale != "vi":
        return text
    for pattern, replacement in _PROBLEMS_VI:
        if pattern.match(text):
            return pattern.sub(replacement, text)
    return text


def translator(locale: str) -> Callable[..., str]:
    index = 1 if locale == "vi" else 0

    def t(key: str, **values: object) -> str:
        entry = MESSAGES.get(key)
        if entry is None:
            raise KeyError(f"no web message {key!r} in workflow/web/i18n.py")
        text = entry[index]
        return text.format(**values) if values else text

    return t


def pick_locale(choice: str | None, person_locale: str | None, accept_language: str | None
                ) -> str:
    """The page's language: the switch, then the person's locale, then the browser's."""
    for candidate in (choice, person_locale):
        if candidate in LOCALES:
            return str(candidate)
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LOCALES:
            return tag
    return DEFAULT_LOCALE


def local_time(instant: datetime | None, tz: str, locale: str) -> str:
    """An instant as the person reads it: their zone, their language, the zone named the
    same way as in mail (``workflow.formatting.date_time``)."""
    return formatting.date_time(instant, tz, locale)
